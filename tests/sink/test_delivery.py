"""Every valid message becomes exactly one row, through the real `datastack sink` process."""

from __future__ import annotations

import signal
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS
from tests.sink.conftest import total_rows
from tests.support import messages
from tests.support.proc import ServiceProcess
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def natural_key_dupes(pg: PostgresSettings) -> int:
    with psycopg.connect(pg.conninfo()) as conn:
        return sum(
            conn.execute(
                sql.SQL("SELECT count(*) - count(DISTINCT natural_key) FROM {}").format(
                    sql.Identifier(s.raw_table)
                )
            ).fetchone()[0]
            for s in STREAMS.values()
        )


def test_n_valid_messages_become_n_rows_and_a_replay_adds_none(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    n = 3000
    batch = messages.mixed(n)
    messages.produce(kafka_settings, batch)
    with ServiceProcess(["sink"], sink_env) as sink:
        wait_for_rows(n)
        wait_caught_up()
        assert total_rows(pg_settings) == n
        # The same N again (a producer retry storm, a replayed topic): still N rows.
        messages.produce(kafka_settings, batch)
        wait_until(
            lambda: sink.metric("datastack_sink_duplicates_skipped_total"),
            lambda v: v >= n,
            what="duplicates counted",
        )
        wait_caught_up()
        assert total_rows(pg_settings) == n
        assert sink.metric("datastack_sink_rows_written_total") == n
        # New rows took one COPY; the replay hit unique violations and went through ON CONFLICT.
        assert sink.metric("datastack_sink_staged_batches_total") >= 1
        assert sink.metric("datastack_sink_messages_consumed_total") == 2 * n
        assert sink.metric("datastack_sink_dead_lettered_total") == 0
        assert sink.stop() == 0
    assert natural_key_dupes(pg_settings) == 0
    with psycopg.connect(pg_settings.conninfo()) as conn:
        # Typed columns, payload and Kafka coordinates are all populated.
        row = conn.execute(
            "SELECT coin_id, price, payload->>'coin_id', kafka_topic, kafka_offset >= 0, ingest_seq > 0"
            " FROM raw_crypto_prices ORDER BY ingest_seq LIMIT 1"
        ).fetchone()
        assert row is not None
        assert row[0] == row[2] == "bitcoin"
        assert row[1] > 0
        assert row[3] == STREAMS[messages.StreamName.CRYPTO].topic(kafka_settings.topic_namespace)
        assert row[4]
        assert row[5]
        city = conn.execute("SELECT DISTINCT city_name FROM raw_weather_data").fetchone()
        assert city == ("São Paulo",)


def test_sigterm_commits_and_exits_within_the_grace_period(
    kafka_settings: KafkaSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    messages.produce(kafka_settings, messages.mixed(600))
    with ServiceProcess(["sink"], sink_env) as sink:
        wait_for_rows(600)
        code, seconds = sink.stopped_within(signal.SIGTERM, timeout=30)
        assert code == 0, sink.logs()
        assert seconds < 10, f"took {seconds:.1f}s to stop"
    wait_caught_up(timeout=10)  # offsets were committed on the way out
