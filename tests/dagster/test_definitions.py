"""The code location loads, and its shape is what the README and the chart rely on: groups, keys,
jobs and their tags, the dbt manifest handling. No database needed."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_code.lib import groups, run_tags
from dagster_code.lib.dbt import project
from dagster_code.lib.dbt.project import manifest
from dagster_code.lib.instance import instance_settings

REPORTS = {
    groups.CRYPTO: "crypto_market_summary",
    groups.DEVELOPER: "developer_insights",
    groups.WEATHER: "weather_analytics",
    groups.DATA_QUALITY: "data_quality_report",
}
RAW = {"raw_crypto_prices", "raw_github_events", "raw_weather_data"}


@pytest.fixture(scope="module")
def graph(defs: dg.Definitions) -> Any:
    return defs.get_repository_def().asset_graph


def keys_in(graph: Any, group: str) -> set[str]:
    return {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == group}


def test_every_job_schedule_and_sensor_resolves(defs: dg.Definitions) -> None:
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"realtime_analytics", "data_quality", "ingestion_audit"}
    assert {s.name for s in repo.schedule_defs} == {
        "realtime_analytics_schedule",
        "data_quality_schedule",
        "ingestion_audit_schedule",
    }
    assert {s.name for s in repo.sensor_defs} == {"raw_data_lag_sensor", "run_failure_recorder"}


def test_analytics_groups_hold_their_marts_and_report(graph: Any) -> None:
    models = {
        n["name"]: n["fqn"][2]
        for n in manifest()["nodes"].values()
        if n["resource_type"] == "model" and len(n["fqn"]) > 3
    }
    for group, report in REPORTS.items():
        members = keys_in(graph, group)
        assert report in members
        expected = {name for name, domain in models.items() if groups.DBT_DOMAIN_GROUPS[domain] == group}
        assert expected, group
        assert expected <= members, group
    # Every postgres model belongs to one of the four groups; the lake copies all live under lake/.
    assert set(models) <= set().union(*(keys_in(graph, g) for g in groups.ANALYTICS))
    assert {f"lake/{m}" for m in models} | {"lake/maintenance"} <= keys_in(graph, groups.LAKE)


def test_raw_tables_are_observable_sources_upstream_of_staging(graph: Any) -> None:
    assert keys_in(graph, groups.INGESTION) == RAW
    for key in RAW:
        node = graph.get(dg.AssetKey(key))
        assert node.is_observable
        assert not node.is_materializable
        assert "topic" in (node.description or "")
        children = {c.to_user_string() for c in node.child_keys}
        assert any(c.startswith("stg_") for c in children), children
        assert f"lake/{key}" in children  # the syncer's copy


def test_dbt_tests_surface_as_checks_on_both_targets(graph: Any) -> None:
    tests = [
        n for n in manifest()["nodes"].values() if n["resource_type"] == "test" and n.get("attached_node")
    ]
    assert len(tests) > 100
    check_keys = graph.asset_check_keys
    names = {(k.asset_key.to_user_string(), k.name) for k in check_keys}
    for test in tests:
        model = test["attached_node"].split(".")[-1]
        assert (model, test["name"]) in names
        assert (f"lake/{model}", test["name"]) in names
    ours = {"freshness", "volume", "completeness", "validity"}
    assert {n for _, n in names} >= ours
    for key in RAW:
        assert {(key, "freshness"), (key, "volume")} <= names
    for report_mart in (
        "crypto_latest_prices",
        "github_top_repos_daily",
        "weather_daily_stats",
        "dq_source_freshness",
    ):
        assert {(report_mart, "completeness"), (report_mart, "validity")} <= names


def test_jobs_select_their_groups_and_carry_run_tags(defs: dg.Definitions, graph: Any) -> None:
    expected = {
        "realtime_analytics": (
            {groups.CRYPTO, groups.DEVELOPER, groups.WEATHER},
            run_tags.POSTGRES_ANALYTICS,
        ),
        "data_quality": ({groups.DATA_QUALITY}, run_tags.POSTGRES_ANALYTICS),
        "ingestion_audit": ({groups.INGESTION, groups.LAKE}, run_tags.LAKE),
    }
    for name, (job_groups, writes) in expected.items():
        job = defs.resolve_job_def(name)
        selected = job.asset_layer.selected_asset_keys
        assert {graph.get(k).group_name for k in selected} == job_groups, name
        assert selected >= {
            k
            for k in graph.get_all_asset_keys()
            if graph.get(k).group_name in job_groups and graph.get(k).is_executable
        }, name
        assert job.tags[run_tags.WRITES_TAG] == writes
        resources = json.loads(job.tags["dagster-k8s/config"])["container_config"]["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert resources["limits"]["memory"]
        assert int(job.tags["dagster/max_runtime"]) > 0


def test_the_instance_limits_one_run_per_written_place() -> None:
    coordinator = instance_settings("h", 5432, "u", "dagster")["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert limits == run_tags.TAG_CONCURRENCY_LIMITS
    assert {"key": run_tags.WRITES_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    storage = instance_settings("h", 5432, "u", "dagster")["storage"]["postgres"]["postgres_db"]
    assert storage["password"] == {"env": "DAGSTER_PG_PASSWORD"}  # never a literal


def test_lake_keys_and_groups_come_from_the_translator(graph: Any) -> None:
    lake = keys_in(graph, groups.LAKE)
    assert "lake/crypto_price_summary" in lake
    node = graph.get(dg.AssetKey(["lake", "stg_crypto__prices"]))
    assert dg.AssetKey(["lake", "raw_crypto_prices"]) in node.parent_keys


def test_a_missing_manifest_fails_with_the_command_that_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: empty\nversion: '1'\nconfig-version: 2\nprofile: x\n")
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", tmp_path)
    project.dbt_project.cache_clear()
    try:
        with pytest.raises(project.ManifestMissingError, match="make dbt-parse"):
            project.dbt_project("postgres")
    finally:
        project.dbt_project.cache_clear()


def test_a_project_edited_after_the_manifest_is_reported(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    model = tmp_path / "models" / "m.sql"
    model.write_text("select 1")
    manifest_file = tmp_path / "target" / "manifest.json"
    manifest_file.write_text("{}")
    now = time.time()
    os.utime(tmp_path / "dbt_project.yml", (now - 60, now - 60))
    os.utime(model, (now - 60, now - 60))
    os.utime(manifest_file, (now - 30, now - 30))
    assert project.changed_since_manifest(tmp_path) == []
    os.utime(model, (now, now))
    assert project.changed_since_manifest(tmp_path) == ["models/m.sql"]


def test_datastack_cli_does_not_import_dagster_until_asked() -> None:
    code = "import sys, services.cli; sys.exit(1 if any(m.startswith('dagster') for m in sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
