"""Security assertions over what the charts render and over our values for the upstream charts:
Pod Security "restricted" for every container, a read-only root, probes, requests and limits,
and no secret value anywhere."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.tools import CHARTS, ROOT, Manifest, helm_template, load_all
from tests.charts.workloads import hardening_violations, pod_violations, pods, restricted_violations


def test_every_rendered_pod_is_restricted_and_hardened(stack: list[Manifest]) -> None:
    found = list(pods(stack))
    assert {p.owner for p in found} == {
        f"Deployment/{n}"
        for n in ("producer-crypto", "producer-github", "producer-weather", "sink", "syncer")
    }
    problems = {p.owner: pod_violations(p) for p in found}
    assert {owner: v for owner, v in problems.items() if v} == {}


def test_rendered_pods_follow_the_usual_manifest_rules(
    stack: list[Manifest], run_jobs: dict[str, Manifest]
) -> None:
    """The checkov/kube-score staples that PSS does not cover: pinned image tags with an explicit
    pull policy, no API token where nothing talks to the API."""
    problems = []
    for pod in pods([*stack, *run_jobs.values()]):
        for container in pod.containers():
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{pod.owner}: image {image} has no pinned tag")
            if container.get("imagePullPolicy") not in ("IfNotPresent", "Never", "Always"):
                problems.append(f"{pod.owner}: no explicit imagePullPolicy")
        if pod.spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{pod.owner}: mounts a service account token")
    assert problems == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "privileged"),
        ({"hostNetwork": True, "containers": [{"name": "c"}]}, "hostNetwork"),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": [{"name": "c"}]}, "hostPath"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 1, "hostPort": 1}]}]}, "hostPort"),
    ],
)
def test_the_restricted_check_refuses_what_admission_refuses(spec: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in restricted_violations(spec, spec["containers"]))


def test_operator_managed_pods_are_restricted_and_sized(stack: list[Manifest]) -> None:
    """Strimzi and CloudNativePG build these pods; we check what we give them: security contexts
    (Strimzi's templates; CloudNativePG is restricted-compliant by default) and resources."""
    by_kind = {doc["kind"]: doc for doc in stack}
    pool, kafka, cluster = by_kind["KafkaNodePool"], by_kind["Kafka"], by_kind["Cluster"]
    for template in (pool["spec"]["template"], kafka["spec"]["kafka"]["template"]):
        container = {"name": "kafka", "securityContext": template["kafkaContainer"]["securityContext"]}
        assert restricted_violations(template["pod"], [container]) == []
    eo = kafka["spec"]["entityOperator"]
    for name in ("topicOperator", "userOperator"):
        ctx = eo["template"][f"{name}Container"]["securityContext"]
        assert restricted_violations(eo["template"]["pod"], [{"name": name, "securityContext": ctx}]) == []
        assert {"requests", "limits"} <= set(eo[name]["resources"])
    for resources in (pool["spec"]["resources"], cluster["spec"]["resources"]):
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert "memory" in resources["limits"]
    assert cluster["spec"]["enableSuperuserAccess"] is False


def _values_pods(
    dagster: dict[str, Any], kafka_ui: dict[str, Any]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) pairs as the upstream charts build them from our values."""

    def pair(block: dict[str, Any], probes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        pod = {"securityContext": block["podSecurityContext"], "volumes": block.get("volumes") or []}
        container = {
            "name": "main",
            "securityContext": block["securityContext"],
            "resources": block["resources"],
            **probes,
        }
        return pod, container

    web, daemon = dagster["dagsterWebserver"], dagster["dagsterDaemon"]
    (code,) = dagster["dagster-user-deployments"]["deployments"]
    # The kafka-ui chart always renders its HTTP probes (values `probes.*` only tune them).
    chart_probes = {
        "livenessProbe": {"httpGet": {"path": "/actuator/health"}},
        "readinessProbe": {"httpGet": {}},
    }
    return {
        "dagster-webserver": pair(web, {k: web[k] for k in ("livenessProbe", "readinessProbe")}),
        "dagster-daemon": pair(daemon, {k: daemon[k] for k in ("livenessProbe", "readinessProbe")}),
        "dagster-code": pair(code, {k: code[k] for k in ("livenessProbe", "readinessProbe")}),
        "kafka-ui": pair(kafka_ui, chart_probes),
    }


def test_upstream_chart_pods_are_restricted_and_hardened(
    dagster_values: dict[str, Any], kafka_ui_values: dict[str, Any]
) -> None:
    problems = {}
    for name, (pod, container) in _values_pods(dagster_values, kafka_ui_values).items():
        found = restricted_violations(pod, [container]) + hardening_violations([container], long_running=True)
        if found:
            problems[name] = found
    assert problems == {}
    code = dagster_values["dagster-user-deployments"]["deployments"][0]
    assert code["readinessProbe"]["enabled"] is True
    assert (
        dagster_values["dagsterWebserver"]["checkDbReadyInitContainer"] is False
    )  # no postgres image to pull


# -- no secret value in any manifest or values file ----------------------------------------------
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL|PRIVATE_KEY)", re.I)
LITERAL_CREDENTIAL = re.compile(
    r"(?<![A-Za-z])(password|secret|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+_-]{12,}", re.I
)
VALUES_FILES = sorted(
    [
        *CHARTS.glob("*/values.yaml"),
        *CHARTS.glob("*/ci/*.yaml"),
        *CHARTS.glob("values/*"),
        *CHARTS.glob("environments/*"),
        ROOT / "helmfile.yaml",
        ROOT / "kind-config.yaml",
    ]
)


def _env_literals(doc: Any) -> list[tuple[str, str]]:
    """(name, value) of every `env` entry with a literal value, anywhere in a document."""
    found: list[tuple[str, str]] = []
    if isinstance(doc, dict):
        if (
            isinstance(doc.get("name"), str)
            and "value" in doc
            and isinstance(doc["value"], str)
            and len(doc) == 2
        ):
            found.append((doc["name"], doc["value"]))
        for value in doc.values():
            found += _env_literals(value)
    elif isinstance(doc, list):
        for item in doc:
            found += _env_literals(item)
    return found


def test_credentials_reach_containers_only_by_reference(
    stack: list[Manifest], dagster_values: dict[str, Any], kafka_ui_values: dict[str, Any]
) -> None:
    literal = [
        (name, value)
        for doc in [*stack, dagster_values, kafka_ui_values]
        for name, value in _env_literals(doc)
        if SECRET_NAME.search(name)
    ]
    assert literal == []
    for config_map in (d for d in stack if d["kind"] == "ConfigMap"):
        assert not [key for key in config_map.get("data") or {} if SECRET_NAME.search(key)], config_map[
            "metadata"
        ]["name"]


def test_the_only_rendered_secrets_are_generated_at_install(stack: list[Manifest]) -> None:
    """charts/postgres renders the role Secrets with a random password (kept by `lookup` on
    upgrade): two renders differ, so no password comes from a file. Nothing else is a Secret."""
    secrets = [d for d in stack if d["kind"] == "Secret"]
    assert {s["metadata"]["name"] for s in secrets} == {"pg-sink", "pg-syncer", "pg-dagster"}
    again = {d["metadata"]["name"]: d for d in helm_template("postgres", "postgres") if d["kind"] == "Secret"}
    for secret in secrets:
        first, second = secret["stringData"], again[secret["metadata"]["name"]]["stringData"]
        assert first["username"] == second["username"]
        assert len(first["password"]) >= 32
        assert first["password"] != second["password"]
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_credential_in_values_files(path: Path) -> None:
    text = path.read_text()
    assert not LITERAL_CREDENTIAL.search(text), LITERAL_CREDENTIAL.search(text)
    if path.suffix == ".yaml":
        docs = load_all(text)
        assert [(n, v) for doc in docs for n, v in _env_literals(doc) if SECRET_NAME.search(n)] == []


def test_the_credential_scan_would_catch_one(tmp_path: Path) -> None:
    leaked = {"env": [{"name": "POSTGRES_PASSWORD", "value": "hunter2hunter2"}]}
    assert [(n, v) for n, v in _env_literals(leaked) if SECRET_NAME.search(n)]
    assert LITERAL_CREDENTIAL.search(yaml.safe_dump({"password": base64.b64encode(b"x" * 12).decode()}))
