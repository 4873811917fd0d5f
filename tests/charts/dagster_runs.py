"""The Kubernetes Jobs K8sRunLauncher will create, built by dagster-k8s itself from our values.

The upstream chart cannot be fetched here, so two of its templates are transcribed (the only hand
copy in this test): the instance's `run_launcher` block (helm/dagster/templates/helpers/instance/
_run-launcher.tpl) and the code location's container context that `includeConfigInLaunchedRuns`
puts on the code server (helm/dagster/charts/dagster-user-deployments/templates/helpers/
_helpers.tpl, `dagsterUserDeployments.k8sContainerContext`). Everything after that is Dagster's
own code: the launcher's config schema, `K8sRunLauncher.launch_run`, the container-context merge
with each job's `dagster-k8s/config` tag and `construct_dagster_k8s_job`. Only the Kubernetes API
client is replaced, by one that keeps the Job it is asked to create.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.charts.tools import NAMESPACE

RELEASE = "dagster"
"""The helmfile release name: the chart's fullname, hence the instance ConfigMap's and SA's names."""


def run_launcher_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """dagster.yaml's `run_launcher.config`, as the chart renders `runLauncher.config.k8sRunLauncher`."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["global"].get("serviceAccountName") or RELEASE,
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if "image" in k8s:
        config["job_image"] = f"{k8s['image']['repository']}:{k8s['image']['tag']}"
    optional = {
        "envConfigMaps": ("env_config_maps", lambda v: [e["name"] for e in v if "name" in e]),
        "envSecrets": ("env_secrets", lambda v: [e["name"] for e in v if "name" in e]),
        "envVars": ("env_vars", list),
        "volumeMounts": ("volume_mounts", list),
        "volumes": ("volumes", list),
        "labels": ("labels", dict),
        "resources": ("resources", dict),
        "schedulerName": ("scheduler_name", str),
        "securityContext": ("security_context", dict),
    }
    for key, (name, convert) in optional.items():
        if k8s.get(key):
            config[name] = convert(k8s[key])
    if k8s.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    run_k8s = k8s.get("runK8sConfig") or {}
    snake = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run_k8s:
        config["run_k8s_config"] = {snake[key]: value for key, value in run_k8s.items() if value}
    return config


def code_location_container_context(
    values: Mapping[str, Any], deployment: Mapping[str, Any]
) -> dict[str, Any]:
    """DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT of the code server, as the subchart renders it."""
    user = values["dagster-user-deployments"]
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [
            f"{RELEASE}-dagster-user-deployments-{deployment['name']}-user-env",
            *[e["name"] for e in deployment.get("envConfigMaps") or [] if "name" in e],
        ],
        "namespace": NAMESPACE,
        "service_account_name": f"{RELEASE}-dagster-user-deployments-user-deployments",
    }
    if user.get("imagePullSecrets"):
        k8s["image_pull_secrets"] = user["imagePullSecrets"]
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = [e["name"] for e in deployment["envSecrets"] if "name" in e]
    for key, name in (
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
        ("schedulerName", "scheduler_name"),
    ):
        if deployment.get(key):
            k8s[name] = deployment[key]
    if isinstance(deployment.get("env"), list) and deployment["env"]:
        k8s["env"] = deployment["env"]
    pod_spec: dict[str, Any] = {}
    if deployment.get("sidecarContainers"):
        pod_spec["containers"] = deployment["sidecarContainers"]
    if deployment.get("initContainers"):
        pod_spec["init_containers"] = deployment["initContainers"]
    if pod_spec:
        k8s["run_k8s_config"] = {"pod_spec_config": pod_spec}
    return {"k8s": k8s}


class _CapturingBatchApi:
    """Stands in for kubernetes.client.BatchV1Api: keeps the Job instead of sending it."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_: Any) -> Any:
        body.metadata.namespace = namespace
        self.jobs.append(body)
        return body


def launch_jobs(
    values: Mapping[str, Any], job_tags: Mapping[str, Mapping[str, str]], workdir: Path
) -> dict[str, dict[str, Any]]:
    """Launch one run per job through a real K8sRunLauncher; returns job name -> the Job (as a dict)."""
    import kubernetes
    from dagster import DagsterInstance
    from dagster._config import process_config
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.job import DagsterK8sJobConfig

    config = run_launcher_config(values)
    checked = process_config(DagsterK8sJobConfig.config_type_run_launcher(), config)
    assert checked.success, f"run launcher config refused by dagster-k8s: {checked.errors}"

    # The launcher only loads a kubeconfig at construction; an unreachable one is never contacted.
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    batch = _CapturingBatchApi()
    launcher = K8sRunLauncher(
        **{**dict(checked.value), "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)},
        k8s_client_batch_api=batch,
    )
    deployment = values["dagster-user-deployments"]["deployments"][0]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    origin = RepositoryPythonOrigin(
        executable_path="/app/.venv/bin/python",
        code_pointer=ModuleCodePointer(deployment["dagsterApiGrpcArgs"][1], "defs", str(workdir)),
        container_image=image,
        container_context=code_location_container_context(values, deployment),
    )
    jobs: dict[str, dict[str, Any]] = {}
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    with DagsterInstance.local_temp(str(home)) as instance:
        launcher.register_instance(instance)
        for job_name, tags in job_tags.items():
            run = DagsterRun(
                job_name=job_name,
                run_id=str(uuid.uuid4()),
                tags=dict(tags),
                job_code_origin=JobPythonOrigin(job_name, origin),
            )
            instance.add_run(run)
            launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
            body = batch.jobs[-1]
            jobs[job_name] = kubernetes.client.ApiClient().sanitize_for_serialization(body)
    return jobs
