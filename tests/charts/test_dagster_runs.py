"""The Jobs K8sRunLauncher will create from our Dagster values (built by dagster-k8s itself, see
dagster_runs.py), checked like every other workload; and the run queue's limits match the code
location's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster_code.lib import run_tags
from tests.charts.schemas import kubeconform_args
from tests.charts.tools import NAMESPACE, Manifest, run, tool
from tests.charts.workloads import pod_violations, pods


def test_every_job_of_the_code_location_launches(run_jobs: dict[str, Manifest]) -> None:
    assert set(run_jobs) == {"realtime_analytics", "data_quality", "ingestion_audit"}
    for job in run_jobs.values():
        assert job["metadata"]["namespace"] == NAMESPACE


def test_run_pods_are_restricted_sized_and_valid(
    run_jobs: dict[str, Manifest], schema_dir: Path, tmp_path: Path
) -> None:
    import yaml

    docs = list(run_jobs.values())
    problems = {p.owner: pod_violations(p) for p in pods(docs)}
    assert {k: v for k, v in problems.items() if v} == {}
    target = tmp_path / "jobs.yaml"
    target.write_text(yaml.safe_dump_all(docs))
    result = run([tool("kubeconform"), *kubeconform_args(schema_dir), str(target)])
    assert f"Valid: {len(docs)}" in result.stdout


def test_run_pods_get_the_lake_scratch_and_secrets(
    run_jobs: dict[str, Manifest], dagster_values: dict[str, Any]
) -> None:
    for name, job in run_jobs.items():
        spec = job["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        claims = {v["name"]: v for v in spec["volumes"]}
        assert claims["lake"]["persistentVolumeClaim"]["claimName"] == "lake", name
        assert "emptyDir" in claims["scratch"], name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/lake"] == "lake"
        assert mounts["/scratch"] == "scratch"
        env = {e["name"]: e for e in container["env"]}
        assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "pg-dagster",
            "key": "password",
        }
        assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "pg-dagster"
        assert env["DATA_PATH"]["value"].startswith("/lake/")
        assert env["DAGSTER_HOME"]["value"].startswith("/scratch/")
        assert container["image"] == "{repository}:{tag}".format(
            **dagster_values["dagster-user-deployments"]["deployments"][0]["image"]
        )
        # dagster#14429: the launcher's policy, not the chart default Always, so `kind load` images work.
        assert (
            container["imagePullPolicy"]
            == dagster_values["runLauncher"]["config"]["k8sRunLauncher"]["imagePullPolicy"]
            == "IfNotPresent"
        )
        assert spec["automountServiceAccountToken"] is False
        assert job["spec"]["backoffLimit"] == 0


def test_run_pods_are_sized_by_their_job_tags(run_jobs: dict[str, Manifest]) -> None:
    profiles = {
        "realtime_analytics": run_tags.REALTIME_ANALYTICS,
        "data_quality": run_tags.DATA_QUALITY,
        "ingestion_audit": run_tags.INGESTION_AUDIT,
    }
    for name, profile in profiles.items():
        resources = run_jobs[name]["spec"]["template"]["spec"]["containers"][0]["resources"]
        # Exactly the tag's: no CPU limit leaks in from the code server's resources.
        assert resources == {
            "requests": {"cpu": profile.cpu_request, "memory": profile.memory_request},
            "limits": {"memory": profile.memory_limit},
        }


def test_run_queue_limits_match_the_code_location(dagster_values: dict[str, Any]) -> None:
    queued = dagster_values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == run_tags.MAX_CONCURRENT_RUNS
    assert queued["tagConcurrencyLimits"] == run_tags.TAG_CONCURRENCY_LIMITS
    assert dagster_values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
