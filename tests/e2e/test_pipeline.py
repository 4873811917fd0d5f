"""The whole data path with nothing stubbed: producers (replay + synthetic) -> Kafka -> sink ->
PostgreSQL -> syncer -> DuckLake -> dbt build on both targets, and the two targets agree."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS
from services.infra.local import LocalInfra
from tests.conftest import service_env
from tests.dbt.helpers import dbt_env, lake_query, pg_query, run_dbt
from tests.support import messages
from tests.support.databases import fresh_database
from tests.support.proc import DATASTACK, ServiceProcess
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

PRODUCE = [
    ("crypto", "replay", 30),
    ("github", "replay", 120),
    ("weather", "replay", 13),
    ("crypto", "synthetic", 1500),
    ("github", "synthetic", 1500),
    ("weather", "synthetic", 1500),
]


def _distinct_keys(kafka: KafkaSettings, produced: dict[str, int]) -> int:
    """Natural keys actually on the topics (replayed GitHub pages overlap, as the real API's do)."""
    total = 0
    for stream in STREAMS.values():
        topic = stream.topic(kafka.topic_namespace)
        got = messages.read_all(kafka, topic, produced[stream.base_topic])
        assert len(got) == produced[stream.base_topic]
        total += len({m.key() for m in got})
    return total


def _count(rows: list[dict[str, object]]) -> int:
    return int(next(iter(rows[0].values())))  # type: ignore[call-overload]


def test_pipeline_feeds_dbt_on_both_targets(
    infra: LocalInfra, kafka_settings: KafkaSettings, pg_settings: PostgresSettings, tmp_path: Path
) -> None:
    env = service_env(kafka_settings, pg_settings, SINK_GROUP_ID=f"e2e-{uuid.uuid4().hex[:8]}")
    produced = {s.base_topic: 0 for s in STREAMS.values()}
    for source, mode, count in PRODUCE:
        result = subprocess.run(
            [DATASTACK, "produce", source, "--source", mode, "--count", str(count)],
            env={**env, "METRICS_PORT": "0"},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        produced[
            {"crypto": "crypto_prices", "github": "github_events", "weather": "weather_data"}[source]
        ] += count
    expected_rows = _distinct_keys(kafka_settings, produced)

    topics = [s.topic(kafka_settings.topic_namespace) for s in STREAMS.values()]
    with ServiceProcess(["sink"], env) as sink:
        wait_until(
            lambda: messages.group_caught_up(kafka_settings, env["SINK_GROUP_ID"], topics),
            timeout=120,
            interval=0.3,
            what="sink caught up",
        )
        assert sink.metric("datastack_sink_dead_lettered_total") == 0
        assert sink.stop() == 0
    raw = {
        s.raw_table: _count(
            pg_query(pg_settings, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(s.raw_table)))
        )
        for s in STREAMS.values()
    }
    assert sum(raw.values()) == expected_rows

    with fresh_database(infra, "e2e_lake") as catalog:
        data_path = tmp_path / "lake"
        sync_env = {**env, "DUCKLAKE_CATALOG_DB": catalog, "DATA_PATH": str(data_path)}
        result = subprocess.run(
            [DATASTACK, "sync", "--once"],
            env=sync_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        for table, n in raw.items():
            query = f"SELECT count(*) FROM lake.main.{table}"  # noqa: S608 - fixed table names
            assert _count(lake_query(pg_settings, catalog, data_path, query)) == n

        run_dbt(["build"], dbt_env(pg_settings, schema="analytics"))
        run_dbt(["build"], dbt_env(pg_settings, catalog, data_path, schema="analytics"))

        # The same models over the same rows give the same figures on both targets.
        checks = {
            "crypto_latest_prices": "SELECT count(*) FROM {s}.crypto_latest_prices",
            "weather_daily_stats": "SELECT count(*) FROM {s}.weather_daily_stats",
            "github_top_actors_daily": "SELECT count(*) FROM {s}.github_top_actors_daily",
        }
        for name, query in checks.items():
            on_pg = _count(pg_query(pg_settings, query.format(s="analytics")))
            on_lake = _count(lake_query(pg_settings, catalog, data_path, query.format(s="lake.analytics")))
            assert on_pg == on_lake > 0, name
        dq_pg = pg_query(
            pg_settings,
            "SELECT sum(row_count) AS n FROM analytics.dq_source_health WHERE window_grain = 'day'",
        )
        assert sum(int(r["n"]) for r in dq_pg) == sum(raw.values())
