"""Dagster runs in the cluster: submitted through the webserver's GraphQL API, queued by the
QueuedRunCoordinator, launched by the daemon's K8sRunLauncher as Kubernetes Jobs (restricted pods,
the lake claim, the secrets), they run dbt on the raw tables the in-cluster producers filled, and
succeed; their status comes from Dagster. The PostgreSQL marts then hold rows; the lake job (dbt on
DuckLake and maintenance, which flushes the syncer's inlined rows) leaves Parquet files on the
lake's volume, written by the non-root run pod."""

from __future__ import annotations

from typing import Any

import requests
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient
from psycopg import sql

from dagster_code.defs.automation.jobs import ingestion_audit_job, realtime_analytics_job
from dagster_code.lib import run_tags
from tests.cluster.kube import ClusterPostgres, Connect, Kube

RUN_UID = 10001
"""The run pods' user (charts/values/dagster.yaml.gotmpl podSecurityContext)."""
MARTS = ("crypto_latest_prices", "github_top_repos_daily", "weather_daily_stats")
"""One mart per source realtime_analytics builds (dbt_project/models/marts)."""
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
RUN_WAIT_S = 1200
IN_PROGRESS = """query {
  runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
    ... on Runs { results { runId jobName status } } } }"""


def _raw_rows(connect: Connect) -> bool:
    with connect() as conn:
        for table in ("raw_crypto_prices", "raw_github_events", "raw_weather_data"):
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if not exists or exists[0] is None:
                return False
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            if not row or row[0] == 0:
                return False
    return True


def test_a_job_runs_as_a_kubernetes_job_and_builds_the_marts(kube: Kube, pg: ClusterPostgres) -> None:
    connect = pg.connect
    kube.wait(lambda: _raw_rows(connect), timeout=600, what="rows in the raw tables before the run")
    job = _run_as_kubernetes_job(kube, realtime_analytics_job.name)
    _check_run_pod(job, cpu=run_tags.REALTIME_ANALYTICS.cpu_request)
    with connect() as conn:
        counts = {
            mart: conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier("analytics"), sql.Identifier(mart)
                )
            ).fetchone()
            for mart in MARTS
        }
    assert all(row and row[0] > 0 for row in counts.values()), counts


def test_the_lake_job_writes_parquet_files_on_the_lake_volume(kube: Kube, pg: ClusterPostgres) -> None:
    """ingestion_audit: dbt on DuckLake and lake maintenance, in a run pod with a read-only root
    filesystem (DuckDB's temp files go to the scratch volume) writing the lake claim as its
    non-root user. The flush turns the syncer's inlined rows into Parquet files on the volume."""
    kube.wait(lambda: _raw_rows(pg.connect), timeout=600, what="rows in the raw tables before the run")
    claim = kube.lake_volume()
    job = _run_as_kubernetes_job(kube, ingestion_audit_job.name)
    _check_run_pod(job, cpu=run_tags.INGESTION_AUDIT.cpu_request)
    files = list((claim / "data").rglob("*.parquet"))
    assert files, f"no Parquet file under {claim}/data after the lake job"
    owners = {path.stat().st_uid for path in files}
    assert owners == {RUN_UID}, f"Parquet files owned by {owners}, not the pods' user {RUN_UID}"
    raw_tables = ("raw_crypto_prices", "raw_github_events", "raw_weather_data")
    flushed = {table for table in raw_tables for path in files if table in path.parts}
    assert flushed == set(raw_tables), sorted(str(path.relative_to(claim)) for path in files)[:20]


def _run_as_kubernetes_job(kube: Kube, job_name: str) -> dict[str, Any]:
    """Submit a run of `job_name` through the webserver, wait for Dagster to report it finished
    and for its Kubernetes Job to complete; both must have succeeded. Returns the Job."""
    with kube.port_forward("svc/dagster-dagster-webserver", 3000) as forward:
        client = DagsterGraphQLClient("127.0.0.1", port_number=forward.ensure(), timeout=60)
        # The code location's schedules launch runs too. Start ours when none is in progress: on the
        # CI node's two cores, two run pods of 500m do not fit the CPU requests at once.
        kube.wait(
            lambda: _runs_in_progress(forward.ensure()),
            lambda runs: not runs,
            timeout=RUN_WAIT_S,
            interval=5,
            what="no Dagster run in progress",
            pods=_dagster_pods(kube),
        )
        run_id = client.submit_job_execution(
            job_name, repository_location_name="datastack", repository_name="__repository__"
        )
        job: dict[str, Any] = kube.wait(
            lambda: kube.get("jobs", "-l", f"dagster/run-id={run_id}")["items"],
            timeout=300,
            what=f"the Kubernetes Job of run {run_id}",
            pods=_dagster_pods(kube),
        )[0]
        status = kube.wait(
            lambda: forward.ensure() and client.get_run_status(run_id),
            lambda s: s in FINISHED,
            timeout=RUN_WAIT_S,
            interval=5,
            what=f"run {run_id} of {job_name} to finish",
            pods=_dagster_pods(kube, run_id),
        )
    assert status == DagsterRunStatus.SUCCESS, (
        f"run {run_id} of {job_name} ended {status}\n{kube.diagnostics(_dagster_pods(kube, run_id))}"
    )
    # Dagster records SUCCESS before the run worker's process (and so the Job) has ended.
    name = job["metadata"]["name"]
    finished = kube.wait(
        lambda: kube.get("job", name)["status"],
        lambda s: s.get("succeeded") == 1 or bool(s.get("failed")),
        timeout=120,
        what=f"Job {name} to complete",
    )
    assert finished.get("succeeded") == 1, finished
    return job


def _runs_in_progress(port: int) -> list[dict[str, str]]:
    response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": IN_PROGRESS}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]["runsOrError"]["results"]  # type: ignore[no-any-return]


def _check_run_pod(job: dict[str, Any], cpu: str) -> None:
    """The pod K8sRunLauncher built: labelled for the NetworkPolicies, restricted, with the lake,
    the scratch volume and the credentials by reference, and the size its job's tag asks for."""
    template = job["spec"]["template"]
    assert template["metadata"]["labels"]["datastack.io/component"] == "dagster-run"
    spec = template["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    claims = {
        v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims == {"lake"}
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"]["cpu"] == cpu  # the job's dagster-k8s/config tag
    secret_refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert "pg-dagster" in secret_refs


def _dagster_pods(kube: Kube, run_id: str | None = None) -> list[str]:
    """The daemon's pod and, once it exists, the run's: their logs explain a stuck run."""
    selectors = ["datastack.io/component=dagster-daemon"]
    if run_id:
        selectors.append(f"dagster/run-id={run_id}")
    return [pod["metadata"]["name"] for s in selectors for pod in kube.get("pods", "-l", s)["items"]]
