"""A rebalance while several batches are in flight in several writer processes loses and duplicates
nothing, and keeps ingest_seq in Kafka order per partition across the hand-over."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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

RAW_TABLES = [s.raw_table for s in STREAMS.values()]


def _log_records(sink: ServiceProcess, message: str) -> list[dict[str, Any]]:
    found = []
    for line in sink.logs().splitlines():
        if message in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def test_rebalance_with_batches_in_flight_loses_and_duplicates_nothing(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    n = 30_000
    messages.produce(kafka_settings, messages.mixed(n))
    # Six writers: a partition's batches all go to one writer, and a writer with room takes a
    # partition nobody holds first, so once the writes are held every writer holds batches of its
    # own partitions: six or more of the nine are in flight, and whichever partitions the second
    # member takes (four or five), some of them are in flight.
    env = {**sink_env, "SINK_BATCH_MAX_MESSAGES": "250", "SINK_WRITERS": "6"}
    with ServiceProcess(["sink"], env) as first:
        wait_for_rows(2000)
        with psycopg.connect(pg_settings.conninfo()) as locker:
            # SHARE mode blocks the writers' COPY/INSERT (not the counts): batches pile up in flight.
            locker.execute(
                sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
                    sql.SQL(", ").join(map(sql.Identifier, RAW_TABLES))
                )
            )
            wait_until(
                lambda: first.metric("datastack_sink_partitions_in_flight"),
                lambda v: v >= 6,
                what="every writer holding batches of its own partitions",
            )
            written_before = total_rows(pg_settings)
            with ServiceProcess(["sink"], env) as second:
                # The cooperative rebalance makes the first member revoke partitions; it waits for
                # their in-flight batches, which commit once the lock is gone.
                revoking = wait_until(
                    lambda: _log_records(first, "revoking partitions"),
                    what="the first member revoking partitions",
                    timeout=60,
                )
                assert revoking[0]["in_flight_partitions"] >= 1, revoking
                locker.rollback()
                wait_for_rows(n, timeout=180)
                wait_caught_up()
                assert total_rows(pg_settings) == n
                # Both members wrote: the partitions really moved.
                assert second.metric("datastack_sink_rows_written_total") > 0
                assert first.metric("datastack_sink_rows_written_total") > written_before
                assert first.metric("datastack_sink_dead_lettered_total") == 0
                assert second.metric("datastack_sink_dead_lettered_total") == 0
                assert second.stop() == 0
            assert first.stop() == 0

    with psycopg.connect(pg_settings.conninfo()) as conn:
        for table in RAW_TABLES:
            name = sql.Identifier(table)
            dupes = conn.execute(
                sql.SQL("SELECT count(*) - count(DISTINCT natural_key) FROM {}").format(name)
            ).fetchone()
            assert dupes == (0,), table
            # Within each partition, ingest_seq increases with the Kafka offset, across both members
            # and all writers: the lake syncer's watermark sees rows in log order.
            out_of_order = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM (SELECT ingest_seq < lag(ingest_seq)"
                    " OVER (PARTITION BY kafka_partition ORDER BY kafka_offset) AS back FROM {}) s"
                    " WHERE back"
                ).format(name)
            ).fetchone()
            assert out_of_order == (0,), table
