"""Each of our asset checks fails on the data it exists to catch, and passes on good data: freshness
on stale and on missing rows, volume on a source that stopped or exploded, completeness on an empty
mart or a missing field, validity on values out of range and on a schema that drifted from the dbt
contract. The checks run as registered in the code location, against real PostgreSQL tables."""

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from dagster_code.lib import quality
from dagster_code.lib.dbt.project import declared_columns
from dagster_code.lib.resources import postgres_from_env
from dagster_code.lib.settings import QualitySettings
from services.config import PostgresSettings
from services.infra.local import LocalInfra
from services.sink.schema import migrate
from tests.dbt import rawdata
from tests.support.databases import fresh_database, postgres_env, settings_for

pytestmark = pytest.mark.integration

SETTINGS = QualitySettings()


@pytest.fixture
def database(infra: LocalInfra, monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresSettings]:
    """A fresh database with the raw tables, which the code location's resources point at."""
    with fresh_database(infra, "t_checks") as name:
        pg = settings_for(infra, name)
        with psycopg.connect(pg.conninfo()) as conn:
            migrate(conn)
        for var, value in {
            **postgres_env(pg),
            "DBT_SCHEMA": "analytics",
        }.items():
            monkeypatch.setenv(var, value)
        yield pg


def evaluate(defs: dg.Definitions, asset: str, name: str) -> dg.AssetCheckResult:
    """Run one registered check of the code location with the resources it is configured with."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), name)
    for checks in defs.asset_checks or []:
        if isinstance(checks, dg.AssetChecksDefinition) and key in checks.check_keys:
            result = checks(postgres=postgres_from_env())
            # Tear the direct invocation's context down now, not at interpreter exit.
            gc.collect()
            assert isinstance(result, dg.AssetCheckResult)
            return result
    raise AssertionError(f"no check {key}")


def reason(result: dg.AssetCheckResult) -> str:
    value = result.metadata.get("reason")
    return str(getattr(value, "value", value))


def land(pg: PostgresSettings, rows: rawdata.RawRows) -> None:
    with psycopg.connect(pg.conninfo()) as conn:
        rawdata.insert(conn, rows)


# -- freshness --------------------------------------------------------------------------------------


def test_freshness_fails_on_missing_then_stale_data_and_passes_on_fresh(
    defs: dg.Definitions, database: PostgresSettings
) -> None:
    empty = evaluate(defs, "raw_weather_data", "freshness")
    assert not empty.passed
    assert "no rows" in reason(empty)

    stale_end = datetime.now(UTC) - SETTINGS.dq_freshness_max_age - timedelta(hours=1)
    land(database, {"raw_weather_data": rawdata.generate(stale_end)["raw_weather_data"]})
    stale = evaluate(defs, "raw_weather_data", "freshness")
    assert not stale.passed
    age = stale.metadata["age_seconds"].value
    assert isinstance(age, float)
    assert age > SETTINGS.dq_freshness_max_age.total_seconds()

    fresh_row = rawdata.weather_row(
        rawdata.CITIES[0], 12.0, 60.0, datetime.now(UTC), 0, rawdata.random.Random(1)
    )
    fresh_row.pop("ingested_at")  # lands now
    land(database, {"raw_weather_data": [fresh_row]})
    assert evaluate(defs, "raw_weather_data", "freshness").passed


def test_freshness_age_follows_the_setting(
    defs: dg.Definitions, database: PostgresSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    land(
        database,
        {"raw_weather_data": rawdata.generate(datetime.now(UTC) - timedelta(hours=2))["raw_weather_data"]},
    )
    assert evaluate(defs, "raw_weather_data", "freshness").passed  # 2 h < 6 h
    monkeypatch.setenv("DQ_FRESHNESS_MAX_AGE", "1h")
    assert not evaluate(defs, "raw_weather_data", "freshness").passed


# -- volume -----------------------------------------------------------------------------------------


def test_volume_judgement() -> None:
    steady = {k: 20 for k in range(25)}
    assert quality.judge_volume(steady, 24, SETTINGS).passed
    assert not quality.judge_volume({**steady, 0: 1}, 24, SETTINGS).passed  # stopped
    assert not quality.judge_volume({**steady, 0: 201}, 24, SETTINGS).passed  # exploded
    assert quality.judge_volume({**steady, 0: 200}, 24, SETTINGS).passed  # at the bound
    assert quality.judge_volume({0: 5000}, 2, SETTINGS).passed  # a new source is not an anomaly
    one_burst = {**steady, 3: 5000, 0: 25}
    assert quality.judge_volume(one_burst, 24, SETTINGS).passed  # the median ignores one burst


def weather_burst(n: int) -> list[dict[str, Any]]:
    """`n` observations landing now, one per second before now (distinct natural keys)."""
    rng = rawdata.random.Random(5)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for i in range(n):
        row = rawdata.weather_row(rawdata.CITIES[i % 4], 10.0, 50.0, now - timedelta(seconds=i + 1), i, rng)
        row.pop("ingested_at")
        rows.append(row)
    return rows


def test_volume_passes_steady_and_fails_a_stopped_source(
    defs: dg.Definitions, database: PostgresSettings
) -> None:
    # 50 hours of observations up to two hours ago: nothing landed in the last hour.
    land(
        database,
        {"raw_weather_data": rawdata.generate(datetime.now(UTC) - timedelta(hours=2))["raw_weather_data"]},
    )
    stopped = evaluate(defs, "raw_weather_data", "volume")
    assert not stopped.passed
    assert reason(stopped).startswith("stopped")
    assert stopped.metadata["rows_last_hour"].value == 0


def test_volume_fails_a_source_that_explodes(defs: dg.Definitions, database: PostgresSettings) -> None:
    land(database, {"raw_weather_data": rawdata.generate(datetime.now(UTC))["raw_weather_data"]})
    steady = evaluate(defs, "raw_weather_data", "volume")
    assert steady.passed, reason(steady)
    baseline = steady.metadata["baseline_rows_per_hour"].value
    assert isinstance(baseline, float | int)
    assert baseline > 0
    land(database, {"raw_weather_data": weather_burst(int(baseline * SETTINGS.dq_volume_max_ratio) + 50)})
    exploded = evaluate(defs, "raw_weather_data", "volume")
    assert not exploded.passed
    assert reason(exploded).startswith("exploded")


# -- completeness and validity of the marts -----------------------------------------------------------

GOOD_ROWS: dict[str, list[dict[str, Any]]] = {
    "crypto_latest_prices": [
        {
            "venue": "kraken",
            "coin_id": "bitcoin",
            "vs_currency": "usd",
            "symbol": "btc",
            "price": 65000.0,
            "bid": 64999.5,
            "ask": 65000.5,
            "change_pct_1h": 0.5,
            "change_pct_24h": -1.2,
            "market_cap": 1.3e12,
            "priced_at": datetime.now(UTC),
        },
        {
            "venue": "coingecko",
            "coin_id": "solana",
            "vs_currency": "usd",
            "symbol": "sol",
            "price": 150.0,
            "bid": None,
            "ask": None,
            "change_pct_1h": 1.5,
            "change_pct_24h": 3.0,
            "market_cap": None,
            "priced_at": datetime.now(UTC),
        },
    ],
    "weather_daily_stats": [
        {
            "city_id": "berlin",
            "observed_date": datetime.now(UTC).date(),
            "city_name": "Berlin",
            "country": "DE",
            "observation_count": 48,
            "min_temperature_c": -3.0,
            "max_temperature_c": 9.5,
            "avg_temperature_c": 3.1,
            "min_humidity_pct": 40.0,
            "max_humidity_pct": 95.0,
            "total_rain_mm": 1.2,
        },
    ],
    "github_top_repos_daily": [
        {
            "activity_date": datetime.now(UTC).date(),
            "repo_rank": 1,
            "repo_id": 501,
            "repo_name": "acme/rocket",
            "event_count": 12,
            "event_share_pct": 40.0,
            "actor_count": 3,
        },
    ],
    "dq_source_freshness": [
        {
            "source_name": s,
            "row_count": 10,
            "duplicate_key_count": 0,
            "null_required_count": 0,
            "out_of_range_count": 0,
            "last_ingested_at": datetime.now(UTC),
            "freshness_status": "ok",
        }
        for s in ("crypto_prices", "github_events", "weather_data")
    ],
}


def create_mart(pg: PostgresSettings, model: str, rows: list[dict[str, Any]]) -> None:
    """The mart as its dbt contract declares it (names and types from the manifest), with `rows`."""
    columns = declared_columns(model)
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute(
            sql.SQL("CREATE TABLE analytics.{} ({})").format(
                sql.Identifier(model),
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t or "text"))
                    for c, t in columns.items()
                ),
            )
        )
        for row in rows:
            conn.execute(
                sql.SQL("INSERT INTO analytics.{} ({}) VALUES ({})").format(
                    sql.Identifier(model),
                    sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row)),
                ),
                list(row.values()),
            )


def execute(pg: PostgresSettings, statement: str) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.mark.parametrize("model", sorted(GOOD_ROWS))
def test_marts_pass_on_good_rows_and_fail_when_empty(
    defs: dg.Definitions, database: PostgresSettings, model: str
) -> None:
    create_mart(database, model, GOOD_ROWS[model])
    assert evaluate(defs, model, "completeness").passed
    valid = evaluate(defs, model, "validity")
    assert valid.passed, reason(valid)
    execute(database, f"DELETE FROM analytics.{model}")  # noqa: S608 - a fixed model name
    empty = evaluate(defs, model, "completeness")
    assert not empty.passed
    assert "empty" in reason(empty)


BAD = [
    # (model, statement that breaks it, check that must fail, words of its reason)
    (
        "crypto_latest_prices",
        "UPDATE analytics.crypto_latest_prices SET price = NULL WHERE coin_id = 'solana'",
        "completeness",
        "price (1)",
    ),
    (
        "crypto_latest_prices",
        "UPDATE analytics.crypto_latest_prices SET price = -5 WHERE coin_id = 'solana'",
        "validity",
        "price",
    ),
    (
        "weather_daily_stats",
        "UPDATE analytics.weather_daily_stats SET max_temperature_c = 80",
        "validity",
        "max_temperature_c <= 65",
    ),
    (
        "weather_daily_stats",
        "UPDATE analytics.weather_daily_stats SET min_humidity_pct = -1",
        "validity",
        "min_humidity_pct",
    ),
    (
        "github_top_repos_daily",
        "UPDATE analytics.github_top_repos_daily SET repo_name = NULL",
        "completeness",
        "repo_name",
    ),
    (
        "github_top_repos_daily",
        "UPDATE analytics.github_top_repos_daily SET event_share_pct = 140",
        "validity",
        "event_share_pct",
    ),
    # A source without rows yet: dq_source_freshness has no landing time for it.
    (
        "dq_source_freshness",
        "UPDATE analytics.dq_source_freshness SET last_ingested_at = NULL, row_count = 0 "
        "WHERE source_name = 'github_events'",
        "completeness",
        "last_ingested_at",
    ),
    # Raw rows breaking a contract range, as counted by the data-quality models.
    (
        "dq_source_freshness",
        "UPDATE analytics.dq_source_freshness SET out_of_range_count = 2 WHERE source_name = 'weather_data'",
        "validity",
        "out_of_range_count",
    ),
    # Schema drift: a column of the contract is gone, another changed type.
    (
        "weather_daily_stats",
        "ALTER TABLE analytics.weather_daily_stats DROP COLUMN total_rain_mm",
        "validity",
        "missing column total_rain_mm",
    ),
    (
        "crypto_latest_prices",
        "ALTER TABLE analytics.crypto_latest_prices ALTER COLUMN price TYPE text",
        "validity",
        "price is text",
    ),
]


@pytest.mark.parametrize(
    ("model", "statement", "check", "words"), BAD, ids=[f"{b[0]}-{b[2]}-{i}" for i, b in enumerate(BAD)]
)
def test_marts_fail_on_missing_and_invalid_data(
    defs: dg.Definitions, database: PostgresSettings, model: str, statement: str, check: str, words: str
) -> None:
    create_mart(database, model, GOOD_ROWS[model])
    assert evaluate(defs, model, check).passed
    execute(database, statement)
    result = evaluate(defs, model, check)
    assert not result.passed
    assert words in reason(result), reason(result)
