"""`dbt parse` writes target/manifest.json without touching a database (Dagster ships the manifest
built at image build time)."""

from __future__ import annotations

from pathlib import Path

from services.config import PostgresSettings
from tests.dbt.helpers import dbt_env, run_dbt

MARTS = {
    "crypto_price_summary",
    "crypto_latest_prices",
    "crypto_venue_prices_minutely",
    "crypto_cross_exchange_minutely",
    "github_top_actors_daily",
    "github_top_repos_daily",
    "github_event_type_mix_daily",
    "github_activity_by_hour",
    "github_new_vs_returning_daily",
    "github_actors",
    "weather_hourly_stats",
    "weather_daily_stats",
    "weather_condition_distribution",
    "weather_extremes",
    "dq_source_health",
    "dq_source_freshness",
}


def test_parse_writes_a_manifest_without_a_database(tmp_path: Path) -> None:
    # Nothing listens on port 9: parsing must not connect.
    pg = PostgresSettings(host="127.0.0.1", port=9, db="nowhere", user="nobody", sslmode="disable")
    env = dbt_env(pg, artifacts_dir=tmp_path)
    result = run_dbt(["parse"], env)
    manifest = result.manifest()

    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert set(models) >= MARTS
    for name, node in models.items():
        layer = node["fqn"][1]
        materialized = {"staging": "view", "intermediate": "incremental", "marts": "table"}
        assert layer in materialized, name
        assert node["config"]["materialized"] == materialized[layer], name
        assert node["config"]["contract"]["enforced"] is (layer == "marts"), name
        if layer == "intermediate":
            assert node["config"]["incremental_strategy"] == "delete+insert", name
            assert node["config"]["unique_key"], name

    unit_tests = manifest["unit_tests"].values()
    tested = {u["model"] for u in unit_tests}
    assert not MARTS - tested, "marts without a unit test"

    sources = [s for s in manifest["sources"].values() if s["package_name"] == "datastack"]
    assert len(sources) == 3
    for source in sources:
        assert source["schema"] == "public"
        assert source["loaded_at_field"] == "ingested_at"
        freshness = source["freshness"]
        assert freshness["warn_after"]["count"]
        assert freshness["error_after"]["count"]

    generic = {n["test_metadata"]["name"] for n in manifest["nodes"].values() if n.get("test_metadata")}
    assert generic >= {"unique_combination", "accepted_range", "not_null", "accepted_values"}
