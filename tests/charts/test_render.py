"""helm lint and helm template of every chart of ours with every ci/ scenario, and the whole stack
through helmfile (`-e ci`, offline), with the releases, names and ordering the README promises."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.charts.conftest import RELEASES_OF_OURS, STAND_INS, UPSTREAM_RELEASES, release_of
from tests.charts.tools import CHARTS, KUBE_VERSION, ROOT, Manifest, helm_template, helmfile, run, tool

CHARTS_OF_OURS = sorted(path.parent.name for path in CHARTS.glob("*/Chart.yaml"))
SCENARIOS = sorted(
    (chart, path) for chart in CHARTS_OF_OURS for path in (CHARTS / chart / "ci").glob("*-values.yaml")
)


def test_every_chart_has_ci_scenarios() -> None:
    assert CHARTS_OF_OURS == [
        "ci-crds",
        "ci-dagster",
        "ci-kafka",
        "ci-postgres",
        "datastack-service",
        "kafka",
        "platform",
        "postgres",
    ]
    for chart in CHARTS_OF_OURS:
        assert list((CHARTS / chart / "ci").glob("*-values.yaml")), f"charts/{chart}/ci has no scenario"


@pytest.mark.parametrize(("chart", "values"), SCENARIOS, ids=[f"{c}/{p.name}" for c, p in SCENARIOS])
def test_lint_and_template_scenario(chart: str, values: Path) -> None:
    run(
        [
            tool("helm"),
            "lint",
            "--strict",
            str(CHARTS / chart),
            "-f",
            str(values),
            "--kube-version",
            KUBE_VERSION,
        ]
    )
    assert helm_template(chart, "scenario", [values])


def test_service_chart_refuses_bad_values(tmp_path: Path) -> None:
    """values.schema.json and the templates' `fail`s stop a mistake at install time."""
    base = CHARTS / "datastack-service/ci/sink-values.yaml"
    cases = {
        "metricPort: 9104\n": "metricPort",
        "env: {POSTGRES_PASSWORD: hunter2}\n": "POSTGRES_PASSWORD",
        "component: worker\n": "component",
        "securityContext: {allowPrivilegeEscalation: true}\n": "allowPrivilegeEscalation",
        "postgres: {enabled: true, existingSecret: ''}\n": "postgres.existingSecret is required",
        "kafka: {enabled: true, user: ''}\n": "kafka.user is required",
    }
    for override, message in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(override)
        result = run(
            [
                tool("helm"),
                "template",
                "x",
                str(CHARTS / "datastack-service"),
                "-f",
                str(base),
                "-f",
                str(bad),
                "--kube-version",
                KUBE_VERSION,
            ],
            check=False,
        )
        assert result.returncode != 0, f"accepted: {override}"
        assert message in result.stderr, result.stderr


def test_helmfile_ci_renders_every_release_of_ours_and_no_upstream_one(stack: list[Manifest]) -> None:
    releases = {release_of(doc) for doc in stack}
    assert releases == RELEASES_OF_OURS
    assert not releases & UPSTREAM_RELEASES
    for doc in stack:
        assert doc["metadata"].get("namespace", "datastack") == "datastack"


def _listed(env: str) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in json.loads(helmfile("-e", env, "list", "--output", "json").stdout)}


def test_helmfile_pins_the_upstream_charts_and_orders_the_releases() -> None:
    """`local` enables the upstream charts at the pinned versions, `ci` ours (same values) and the
    stand-ins; the install order is operators -> Kafka and PostgreSQL -> Dagster -> services."""
    local, ci = _listed("local"), _listed("ci")
    assert set(local) == set(ci) == RELEASES_OF_OURS | UPSTREAM_RELEASES | STAND_INS
    assert {name for name, r in local.items() if r["enabled"]} == RELEASES_OF_OURS | UPSTREAM_RELEASES
    assert {name for name, r in ci.items() if r["enabled"]} == RELEASES_OF_OURS | STAND_INS
    pinned = {name: local[name]["version"] for name in UPSTREAM_RELEASES}
    assert pinned == {
        "strimzi-operator": "1.2.0",
        "cnpg-operator": "0.29.0",
        "dagster": "1.13.27",
        "kafka-ui": "1.5.2",
    }

    # `show-dag` needs no chart; in `ci` it shows the whole graph, disabled releases included.
    group = {}
    for line in helmfile("-e", "ci", "show-dag").stdout.splitlines()[1:]:
        number, release, *_ = line.split()
        group[release.split("/")[-1]] = int(number)
    assert group["strimzi-operator"] == group["cnpg-operator"] == group["platform"] == 1
    assert group["kafka"] == group["postgres"] == 2
    assert group["dagster"] == group["kafka-ui"] == 3
    assert {
        group[s] for s in ("producer-crypto", "producer-github", "producer-weather", "sink", "syncer")
    } == {4}


def test_image_tags_default_to_the_project_version(stack: list[Manifest], dagster_values: dict) -> None:  # type: ignore[type-arg]
    """One version everywhere: pyproject.toml, the service chart's appVersion (default tag), the
    tag `make images` builds and the Dagster values' tags."""
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version
    chart = yaml.safe_load((CHARTS / "datastack-service/Chart.yaml").read_text())
    assert chart["appVersion"] == version.group(1)
    images = {
        c["image"]
        for doc in stack
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"datastack/services:{version.group(1)}"}
    common = yaml.safe_load((CHARTS / "environments/common.yaml").read_text())
    assert common["images"]["defaultTag"] == version.group(1)
    assert dagster_values["dagsterWebserver"]["image"]["tag"] == version.group(1)
