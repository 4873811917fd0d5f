"""Every rendered manifest against a schema (kubeconform: CRD schemas for Strimzi and CloudNativePG,
kubernetes-validate's for the built-in kinds), with unknown fields refused; our values for the
upstream charts against theirs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.charts import schemas
from tests.charts.test_render import SCENARIOS
from tests.charts.tools import Manifest, helm_template, run, tool

UPSTREAM = schemas.UPSTREAM_CHARTS


def kubeconform(schema_dir: Path, manifests: list[Manifest], tmp_path: Path) -> str:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(manifests))
    result = run([tool("kubeconform"), *schemas.kubeconform_args(schema_dir), str(path)], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_whole_stack_is_valid(stack: list[Manifest], schema_dir: Path, tmp_path: Path) -> None:
    summary = kubeconform(schema_dir, stack, tmp_path)
    kinds = {doc["kind"] for doc in stack}
    assert {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
        "Deployment",
        "NetworkPolicy",
    } <= kinds
    assert f"Valid: {len(stack)}" in summary, summary  # nothing skipped for want of a schema


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=[f"{c}/{p.name}" for c, p in SCENARIOS])
def test_every_scenario_is_valid(chart: str, values: Path, schema_dir: Path, tmp_path: Path) -> None:
    manifests = helm_template(chart, "scenario", [values])
    summary = kubeconform(schema_dir, manifests, tmp_path)
    assert f"Valid: {len(manifests)}" in summary, summary


def _misspell(doc: Manifest, path: list[str | int], key: str) -> Manifest:
    bad = copy.deepcopy(doc)
    node: Any = bad
    for step in path:
        node = node[step]
    node[key + "x"] = node.pop(key)
    return bad


@pytest.mark.parametrize(
    ("kind", "path", "key"),
    [
        ("Deployment", ["spec", "template", "spec", "containers", 0], "imagePullPolicy"),
        ("Kafka", ["spec", "kafka"], "listeners"),
        ("KafkaUser", ["spec", "authorization", "acls", 0], "operations"),
        ("KafkaNodePool", ["spec", "storage"], "volumes"),
        ("Cluster", ["spec", "bootstrap", "initdb"], "postInitSQL"),
        ("NetworkPolicy", ["spec"], "podSelector"),
    ],
)
def test_a_misspelt_field_fails(
    stack: list[Manifest], schema_dir: Path, tmp_path: Path, kind: str, path: list[str | int], key: str
) -> None:
    doc = next(d for d in stack if d["kind"] == kind and (kind != "NetworkPolicy" or d["spec"].get("egress")))
    bad = _misspell(doc, path, key)
    target = tmp_path / "bad.yaml"
    target.write_text(yaml.safe_dump(bad))
    result = run([tool("kubeconform"), *schemas.kubeconform_args(schema_dir), str(target)], check=False)
    assert result.returncode != 0, f"{kind} with {key}x accepted"
    assert f"{key}x" in result.stdout


# -- our values for the upstream Dagster chart ---------------------------------------------------
def _stub_remote_refs(schema: Any) -> Any:
    """The chart's schema $refs Kubernetes types by URL; offline they become `{}` (anything)."""
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("http"):
            return {}
        return {key: _stub_remote_refs(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_stub_remote_refs(item) for item in schema]
    return schema


def _merge(base: Any, override: Any) -> Any:
    """Helm's coalescing: maps merge, everything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


def _validate(schema_path: Path, values: Any) -> list[str]:
    schema = _stub_remote_refs(json.loads(schema_path.read_text()))
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]


def test_dagster_values_validate_against_the_chart_schema(dagster_values: dict[str, Any]) -> None:
    defaults = yaml.safe_load((UPSTREAM / "dagster/values.yaml").read_text())
    merged = _merge(defaults, dagster_values)
    assert _validate(UPSTREAM / "dagster/values.schema.json", merged) == []
    sub = "dagster/charts/dagster-user-deployments"
    sub_merged = _merge(
        yaml.safe_load((UPSTREAM / sub / "values.yaml").read_text()), merged["dagster-user-deployments"]
    )
    sub_merged["global"] = merged["global"]
    assert _validate(UPSTREAM / sub / "values.schema.json", sub_merged) == []


def test_dagster_schema_check_catches_a_misspelt_key(dagster_values: dict[str, Any]) -> None:
    defaults = yaml.safe_load((UPSTREAM / "dagster/values.yaml").read_text())
    bad = copy.deepcopy(dagster_values)
    bad["runLauncher"]["config"]["k8sRunLauncher"]["imagePullPolicyy"] = "Never"
    errors = _validate(UPSTREAM / "dagster/values.schema.json", _merge(defaults, bad))
    assert any("imagePullPolicyy" in e for e in errors), errors


def test_kafka_ui_values_only_use_keys_the_chart_has(kafka_ui_values: dict[str, Any]) -> None:
    """kafka-ui 1.5.2 ships no values.schema.json: every key of ours must exist in its values.yaml
    (below the free-form maps: Spring config, env mappings, labels, security contexts, volumes)."""
    upstream = yaml.safe_load((UPSTREAM / "kafka-ui/values.yaml").read_text())
    free_form = {
        "yamlApplicationConfig",
        "envs",
        "podLabels",
        "resources",
        "podSecurityContext",
        "securityContext",
        "volumes",
        "volumeMounts",
    }
    unknown = []
    for key, value in kafka_ui_values.items():
        if key not in upstream:
            unknown.append(key)
        elif isinstance(value, dict) and key not in free_form and isinstance(upstream[key], dict):
            unknown += [f"{key}.{k}" for k in value if k not in upstream[key]]
    assert unknown == []
    assert kafka_ui_values["envs"]["secretMappings"]  # the JAAS line comes from the KafkaUser Secret
