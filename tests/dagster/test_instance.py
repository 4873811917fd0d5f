"""The instance `datastack dev` writes loads in Dagster with its storage in PostgreSQL, and runs a
stopped `make dev` left in progress are failed at the next start instead of blocking the queue."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dagster_code.lib import instance as settings
from services.infra.local import LocalInfra
from tests.support.databases import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def home(infra: LocalInfra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with fresh_database(infra, "t_instance") as db:
        pg = infra.postgres
        (tmp_path / "dagster.yaml").write_text(
            settings.to_yaml(settings.instance_settings(pg.host, pg.port, pg.user, db))
        )
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
        monkeypatch.setenv(settings.PASSWORD_ENV, pg.password)
        yield tmp_path


def test_runs_left_in_progress_are_failed_at_the_next_start(home: Path, defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("data_quality")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        stale = instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
        done = instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.SUCCESS)

    assert settings.fail_interrupted_runs() == [stale.run_id]

    with dg.DagsterInstance.get() as instance:
        failed = instance.get_run_by_id(stale.run_id)
        assert failed is not None
        assert failed.status == dg.DagsterRunStatus.FAILURE
        messages = [e.message for e in instance.all_logs(stale.run_id)]
        assert settings.INTERRUPTED in messages
        untouched = instance.get_run_by_id(done.run_id)
        assert untouched is not None
        assert untouched.status == dg.DagsterRunStatus.SUCCESS
    assert settings.fail_interrupted_runs() == []
