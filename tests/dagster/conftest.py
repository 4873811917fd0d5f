"""Fixtures of the Dagster tests, package-scoped so the expensive ones run once and stop when the
package is done: the dbt manifest, rows landed through the real pipeline, a real Dagster (code
server, webserver, daemon) over them, one `datastack assets check` run and the lake job's runs."""

from __future__ import annotations

import fcntl
import importlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_code.lib.dbt.project import changed_since_manifest
from dagster_code.lib.paths import DBT_PROJECT_DIR, MANIFEST_PATH
from services.config import KafkaSettings
from services.infra.local import LocalInfra
from services.infra.topics import ensure_topics
from tests.dagster.pipeline import Landed, land
from tests.dagster.stack import DagsterStack, ScheduleOutputs
from tests.dbt.helpers import DBT_BIN
from tests.support.databases import fresh_database, settings_for
from tests.support.proc import DATASTACK
from tests.support.wait import wait_until


def parse_manifest() -> None:
    """What `make dbt-parse` does, when the manifest is missing or older than the project: the code
    location refuses to load without it. A lock keeps two test sessions from writing it at once."""
    MANIFEST_PATH.parent.mkdir(parents=True, exist_ok=True)
    with (MANIFEST_PATH.parent / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if MANIFEST_PATH.is_file() and not changed_since_manifest():
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
        result = subprocess.run(
            [
                str(DBT_BIN),
                "parse",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
            ],
            env={**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            cwd=DBT_PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="package", autouse=True)
def manifest() -> Path:
    parse_manifest()
    return MANIFEST_PATH


@pytest.fixture(scope="package")
def defs(manifest: Path) -> dg.Definitions:
    """The code location, imported once the manifest exists (importing it reads the manifest)."""
    return importlib.import_module("dagster_code.definitions").defs  # type: ignore[no-any-return]


@pytest.fixture(scope="package")
def landed(infra: LocalInfra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landed]:
    """Replay producers -> Kafka -> sink -> PostgreSQL -> syncer -> DuckLake, in fresh databases."""
    kafka = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap, topic_namespace=f"t{uuid.uuid4().hex[:10]}."
    )
    ensure_topics(kafka)
    with fresh_database(infra, "t_dagster") as db, fresh_database(infra, "t_dagster_lake") as catalog:
        yield land(kafka, settings_for(infra, db), catalog, tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="package")
def dagster_env(landed: Landed, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment the code location reads, pointing at the landed rows."""
    return landed.env(tmp_path_factory.mktemp("scratch"))


def datastack(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATASTACK, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


SCHEDULES = ("data_quality_schedule", "ingestion_audit_schedule", "realtime_analytics_schedule")


@pytest.fixture(scope="package")
def stack(
    infra: LocalInfra, dagster_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterStack]:
    """Code server, webserver and daemon over the landed rows, the instance in a fresh database.

    Runs started by the daemon on its own (the lag sensor's first tick, a schedule's tick) would
    compete with the tests' runs for two cores, so the daemon starts last: the fixture first records
    the schedules as the code location defines them (`stack.schedules.initial`), then stops them
    with `datastack schedules stop`, and the lag sensor through the same API. (tests/e2e/test_dev.py
    sees that sensor launch a run.)"""
    with fresh_database(infra, "t_dagster_instance") as db:
        home = tmp_path_factory.mktemp("dagster_home")
        started = DagsterStack(infra, home, db, dagster_env)
        try:
            started.wait_ready()
            started.stop_sensor("raw_data_lag_sensor")
            env = {**os.environ, **started.env}
            initial = datastack(["schedules", "--url", started.url], env)
            stops = [datastack(["schedules", "--url", started.url, "stop", name], env) for name in SCHEDULES]
            started.schedules = ScheduleOutputs(initial, stops)
            started.start()  # the daemon: runs from the queue, sensors, schedules
            yield started
        finally:
            started.stop()


@pytest.fixture(scope="package")
def assets_check(stack: DagsterStack) -> subprocess.CompletedProcess[str]:
    """`datastack assets check` (all four groups), recorded in the stack's instance (DAGSTER_HOME)."""
    started = time.monotonic()
    result = datastack(["assets", "check"], {**os.environ, **stack.env})
    print(f"datastack assets check: {time.monotonic() - started:.1f} s")
    return result


@dataclass
class LakeRuns:
    audit: dict[str, Any]
    maintenance: dict[str, Any]


RUN_FIELDS = "runId status startTime endTime tags { key value }"


def launch(stack: DagsterStack, job: str, assets: list[list[str]] | None = None) -> str:
    selector: dict[str, Any] = {
        "repositoryLocationName": "datastack",
        "repositoryName": "__repository__",
        "jobName": job,
    }
    if assets:
        selector["assetSelection"] = [{"path": path} for path in assets]
    data = stack.graphql(
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
        "... on LaunchRunSuccess { run { runId } } ... on Error { message } } }",
        {"p": {"selector": selector}},
    )["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return str(data["run"]["runId"])


def run_record(stack: DagsterStack, run_id: str) -> dict[str, Any]:
    data = stack.graphql(
        f"query($id: ID!) {{ runOrError(runId: $id) {{ ... on Run {{ {RUN_FIELDS} }} }} }}", {"id": run_id}
    )
    return data["runOrError"]  # type: ignore[no-any-return]


@pytest.fixture(scope="package")
def lake_runs(stack: DagsterStack) -> LakeRuns:
    """The 30-minute job launched through the run queue and the daemon (the default run launcher,
    as `make dev` runs it), and right behind it a second lake writer (maintenance alone): the tag
    limit must hold the second in the queue until the first has finished."""
    audit_id = launch(stack, "ingestion_audit")
    wait_until(
        lambda: run_record(stack, audit_id)["status"],
        lambda status: status in ("STARTED", "SUCCESS", "FAILURE"),
        timeout=180,
        interval=0.5,
        what="the ingestion audit to start",
    )
    maintenance_id = launch(stack, "ingestion_audit", [["lake", "maintenance"]])
    done = ("SUCCESS", "FAILURE", "CANCELED")
    for run_id in (audit_id, maintenance_id):
        wait_until(
            lambda run_id=run_id: run_record(stack, run_id)["status"],
            lambda status: status in done,
            timeout=600,
            interval=1,
            what=f"run {run_id} to finish; stack log: {stack.log_path}",
        )
    return LakeRuns(run_record(stack, audit_id), run_record(stack, maintenance_id))
