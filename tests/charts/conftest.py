"""Rendered charts, shared by the chart tests: each render runs once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts import schemas
from tests.charts.tools import KUBE_VERSION, Manifest, helmfile, load_all

RELEASES_OF_OURS = {
    "platform",
    "kafka",
    "postgres",
    "producer-crypto",
    "producer-github",
    "producer-weather",
    "sink",
    "syncer",
}
UPSTREAM_RELEASES = {"strimzi-operator", "cnpg-operator", "dagster", "kafka-ui"}
STAND_INS = {"operator-crds", "ci-kafka", "ci-postgres", "ci-dagster"}
"""`ci` only (tier=stand-in): what the operators and the Dagster chart provide in `local`, built here."""


@pytest.fixture(scope="session")
def stack() -> list[Manifest]:
    """`helmfile -e ci template --skip-deps`: every release of ours that both environments install,
    offline (the ci stand-ins are rendered apart: `stand_ins`)."""
    return load_all(
        helmfile(
            "-e",
            "ci",
            "--selector",
            "tier!=stand-in",
            "template",
            "--skip-deps",
            "--kube-version",
            KUBE_VERSION,
        ).stdout
    )


@pytest.fixture(scope="session")
def stand_ins() -> list[Manifest]:
    """The ci environment's stand-ins, rendered like the rest of it."""
    return load_all(
        helmfile(
            "-e",
            "ci",
            "--selector",
            "tier=stand-in",
            "template",
            "--skip-deps",
            "--kube-version",
            KUBE_VERSION,
        ).stdout
    )


def _release_values(env: str, release: str, out: Path) -> dict[str, Any]:
    """The values helmfile passes to one release (its values files rendered, merged in order)."""
    helmfile(
        "-e",
        env,
        "--selector",
        f"name={release}",
        "write-values",
        "--skip-deps",
        "--output-file-template",
        str(out / "{{ .Release.Name }}.yaml"),
    )
    return yaml.safe_load((out / f"{release}.yaml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def dagster_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Our values for the upstream dagster/dagster chart, as helmfile's `local` environment renders them."""
    return _release_values("local", "dagster", tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="session")
def kafka_ui_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _release_values("local", "kafka-ui", tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="session")
def schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return schemas.write_schema_dir(tmp_path_factory.mktemp("schemas"))


def release_of(doc: Manifest) -> str:
    return str(doc["metadata"].get("labels", {}).get("app.kubernetes.io/instance", ""))


@pytest.fixture(scope="session")
def run_jobs(dagster_values: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Manifest]:
    """The Job K8sRunLauncher creates for a run of each job of the code location, with its tags."""
    from dagster_code.defs.automation.jobs import JOBS
    from tests.charts.dagster_runs import launch_jobs

    tags = {job.name: dict(job.tags) for job in JOBS}
    return launch_jobs(dagster_values, tags, tmp_path_factory.mktemp("dagster-runs"))
