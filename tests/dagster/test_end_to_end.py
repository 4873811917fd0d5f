"""End to end with nothing stubbed: replay producers -> Kafka -> sink -> PostgreSQL -> syncer ->
DuckLake -> dbt (through Dagster's assets, on both targets) -> the Dagster reports. The figures in
the marts and in the reports' metadata are recomputed here from the raw rows the pipeline stored.
(tests/e2e/test_pipeline.py covers the same path up to dbt run by hand.)"""
# ruff: noqa: S608 - SQL below is built from fixed model names only

import subprocess
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import pytest

from tests.dagster.conftest import LakeRuns
from tests.dagster.pipeline import Landed
from tests.dagster.stack import DagsterStack
from tests.dbt.helpers import lake_query, pg_query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]  # see test_cli.py


@pytest.fixture(scope="module")
def checked(assets_check: subprocess.CompletedProcess[str]) -> None:
    assert assets_check.returncode == 0, assets_check.stdout + assets_check.stderr


def utc_date(ts: datetime) -> date:
    """The UTC day of a timestamp (the marts' days are UTC)."""
    return ts.astimezone(UTC).date()


def raw(landed: Landed, table: str) -> list[dict[str, Any]]:
    return pg_query(landed.pg, f"SELECT * FROM {table} ORDER BY ingest_seq")


def report_metadata(stack: DagsterStack, key: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The metadata of the newest materialization of a report, from the stack's instance."""
    for var in ("DAGSTER_PG_PASSWORD",):
        monkeypatch.setenv(var, stack.env[var])
    with dg.DagsterInstance.from_config(str(stack.plan.home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        assert event is not None, key
        assert event.asset_materialization is not None, key
        return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def test_every_landed_row_is_counted_by_the_data_quality_marts(landed: Landed, checked: None) -> None:
    freshness = {
        r["source_name"]: r for r in pg_query(landed.pg, "SELECT * FROM analytics.dq_source_freshness")
    }
    assert {f"raw_{name}": int(r["row_count"]) for name, r in freshness.items()} == landed.raw_counts
    assert all(r["null_required_count"] == 0 and r["out_of_range_count"] == 0 for r in freshness.values())


def test_latest_prices_are_the_newest_raw_price_of_each_series(landed: Landed, checked: None) -> None:
    rows = raw(landed, "raw_crypto_prices")
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:  # ingest_seq order: a tie on the price time goes to the later row
        series = (row.get("venue"), row["coin_id"], row["vs_currency"])
        if series not in newest or row["source_updated_at"] >= newest[series]["source_updated_at"]:
            newest[series] = row
    mart = pg_query(landed.pg, "SELECT * FROM analytics.crypto_latest_prices")
    got = {(r.get("venue"), r["coin_id"], r["vs_currency"]): r["price"] for r in mart}
    assert got == {series: row["price"] for series, row in newest.items()}


def test_crypto_report_compares_the_exchanges(
    landed: Landed, stack: DagsterStack, checked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay producer put five venues on the topic; the cross-exchange mart and the report
    see them, with the spread recomputed here from the per-venue mart."""
    rows = raw(landed, "raw_crypto_prices")
    assert {r["venue"] for r in rows} == {"coingecko", "coinbase", "kraken", "bitstamp", "gemini"}
    per_venue = pg_query(landed.pg, "SELECT * FROM analytics.crypto_venue_prices_minutely WHERE is_exchange")
    prices: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for r in per_venue:
        prices[r["coin_id"], r["vs_currency"], r["minute_start"]].append(r["price"])
    cross = pg_query(landed.pg, "SELECT * FROM analytics.crypto_cross_exchange_minutely")
    assert len(cross) == len(prices)
    assert 2 <= max(r["venue_count"] for r in cross) <= 4  # compared across (at most four) exchanges
    for r in cross:
        low, high = (
            min(prices[r["coin_id"], r["vs_currency"], r["minute_start"]]),
            max(prices[r["coin_id"], r["vs_currency"], r["minute_start"]]),
        )
        assert (r["cheapest_price"], r["dearest_price"]) == (low, high)
        if r["venue_count"] > 1:
            assert r["spread_bps"] == pytest.approx((high - low) / low * 10_000, rel=1e-6, abs=1e-4)
    metadata = report_metadata(stack, "crypto_market_summary", monkeypatch)
    assert metadata["venues"] == 5
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in cross:  # the report compares each coin's newest minute
        key = (r["coin_id"], r["vs_currency"])
        if key not in newest or r["minute_start"] > newest[key]["minute_start"]:
            newest[key] = r
    widest = max((r for r in newest.values() if r["spread_bps"] is not None), key=lambda r: r["spread_bps"])
    assert metadata["widest_spread_coin"] == widest["coin_id"]
    assert metadata["widest_spread_bps"] == pytest.approx(widest["spread_bps"], abs=1e-5)


def test_weather_daily_extremes_and_the_report(
    landed: Landed, stack: DagsterStack, checked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = raw(landed, "raw_weather_data")
    per_day: dict[tuple[str, date], list[float]] = defaultdict(list)
    for row in rows:
        per_day[row["city_id"], utc_date(row["observed_at"])].append(row["temperature_c"])
    mart = pg_query(landed.pg, "SELECT * FROM analytics.weather_daily_stats")
    assert {
        (r["city_id"], r["observed_date"]): (r["min_temperature_c"], r["max_temperature_c"]) for r in mart
    } == {key: (min(t), max(t)) for key, t in per_day.items()}
    newest_day = max(day for _, day in per_day)
    hottest = max(
        (r for r in rows if utc_date(r["observed_at"]) == newest_day),
        key=lambda r: (r["temperature_c"], -r["observed_at"].timestamp()),
    )
    metadata = report_metadata(stack, "weather_analytics", monkeypatch)
    assert metadata["hottest_city"] == hottest["city_name"]
    assert metadata["hottest_temperature_c"] == pytest.approx(hottest["temperature_c"])
    assert metadata["cities"] == len({city for city, day in per_day if day == newest_day})


def test_developer_report_names_the_busiest_repository(
    landed: Landed, stack: DagsterStack, checked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = raw(landed, "raw_github_events")
    newest_day = max(utc_date(e["created_at"]) for e in events)
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        if utc_date(event["created_at"]) == newest_day:
            counts[event["repo_name"]] += 1
    busiest = min(counts, key=lambda name: (-counts[name], name))
    metadata = report_metadata(stack, "developer_insights", monkeypatch)
    assert metadata["most_active_repo"] == busiest
    assert metadata["most_active_repo_events"] == counts[busiest]
    assert metadata["events"] == sum(counts.values())


def test_lake_marts_agree_with_postgres(landed: Landed, lake_runs: LakeRuns, checked: None) -> None:
    assert lake_runs.audit["status"] == "SUCCESS"
    for model in (
        "crypto_latest_prices",
        "weather_daily_stats",
        "github_top_actors_daily",
        "dq_source_freshness",
    ):
        on_pg = pg_query(landed.pg, f"SELECT count(*) AS n FROM analytics.{model}")[0]["n"]
        on_lake = lake_query(
            landed.pg,
            landed.catalog_db,
            landed.data_path,
            f"SELECT count(*) AS n FROM lake.analytics.{model}",
        )[0]["n"]
        assert on_pg == on_lake > 0, model
