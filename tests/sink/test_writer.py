"""RawWriter against a real PostgreSQL: one COPY on the normal path, staging + ON CONFLICT for
replays, isolation of rows the database refuses, and values stored exactly."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from services.config import PostgresSettings
from services.contract import STREAMS, StreamName
from services.contract.envelope import decode
from services.sink.rows import TABLES, Coordinates
from services.sink.schema import migrate, migrations
from services.sink.writer import RawWriter
from tests.support import messages

pytestmark = pytest.mark.integration

SPEC = TABLES[StreamName.CRYPTO]


def _rows(n: int, start: int = 0) -> list[tuple[Any, ...]]:
    out = []
    for i in range(start, start + n):
        key, value = messages.crypto(i)
        env = decode(STREAMS[StreamName.CRYPTO], value, key)
        out.append(SPEC.row(env, Coordinates("crypto_prices", 0, i)))
    return out


def _with(row: tuple[Any, ...], **changes: Any) -> tuple[Any, ...]:
    values = list(row)
    for column, value in changes.items():
        values[SPEC.columns.index(column)] = value
    return tuple(values)


def _writer(conn: psycopg.Connection[Any]) -> RawWriter:
    migrate(conn)
    writer = RawWriter(conn)
    writer.prepare(list(TABLES.values()))
    return writer


def _count(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    row = conn.execute("SELECT count(*), count(DISTINCT natural_key) FROM raw_crypto_prices").fetchone()
    assert row is not None
    return row[0], row[1]


def test_columns_match_the_migrated_tables(pg_settings: PostgresSettings) -> None:
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        migrate(conn)
        for spec in TABLES.values():
            cols = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (spec.table,)
                )
            }
            assert set(spec.columns) <= cols
            assert cols - set(spec.columns) == {"ingest_seq", "ingested_at"}


def test_new_rows_take_one_copy_and_are_stored_exactly(pg_settings: PostgresSettings) -> None:
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        assert migrate(conn) == [name for _, name, _ in migrations()]
        assert migrate(conn) == []  # idempotent
        writer = _writer(conn)
        rows = _rows(100)
        with conn.transaction():
            result = writer.write(SPEC, rows)
        assert (result.inserted, result.duplicates, result.rejected, result.staged) == (100, 0, [], False)
        cols = ", ".join(SPEC.columns).replace("payload", "payload::text")
        stored = conn.execute(f"SELECT {cols} FROM raw_crypto_prices ORDER BY kafka_offset").fetchall()  # noqa: S608
        payload = SPEC.columns.index("payload")
        for got, sent in zip(stored, rows, strict=True):
            # Typed columns round-trip exactly (binary COPY: floats bit for bit, timestamps to the µs).
            assert got[:payload] == sent[:payload]
            assert got[payload + 1 :] == sent[payload + 1 :]
        # jsonb normalises whitespace and key order: compare as documents.
        docs = conn.execute(
            "SELECT payload = %s::jsonb FROM raw_crypto_prices ORDER BY kafka_offset LIMIT 1",
            (rows[0][payload],),
        ).fetchone()
        assert docs == (True,)
        seqs = [r[0] for r in conn.execute("SELECT ingest_seq FROM raw_crypto_prices ORDER BY kafka_offset")]
        assert seqs == sorted(seqs), "ingest_seq follows the Kafka offsets"


def test_a_replay_goes_through_on_conflict_until_rows_are_new_again(pg_settings: PostgresSettings) -> None:
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        writer = _writer(conn)
        rows = _rows(100)
        with conn.transaction():
            writer.write(SPEC, rows)
        # A replay after a crash: the uncommitted tail overlaps what is stored.
        with conn.transaction():
            replay = writer.write(SPEC, rows[50:] + _rows(50, start=100))
        assert (replay.inserted, replay.duplicates, replay.staged) == (50, 50, True)
        # Duplicates within one batch (a producer retry) are absorbed too.
        with conn.transaction():
            twice = writer.write(SPEC, _rows(10, start=150) * 2)
        assert (twice.inserted, twice.duplicates, twice.staged) == (10, 10, True)
        # Still replaying: the next batch is staged; it finds no duplicate, so the one after is a COPY.
        with conn.transaction():
            fresh = writer.write(SPEC, _rows(20, start=160))
        assert (fresh.inserted, fresh.duplicates, fresh.staged) == (20, 0, True)
        with conn.transaction():
            copied = writer.write(SPEC, _rows(20, start=180))
        assert (copied.inserted, copied.duplicates, copied.staged) == (20, 0, False)
        assert _count(conn) == (200, 200)
        seqs = [r[0] for r in conn.execute("SELECT ingest_seq FROM raw_crypto_prices ORDER BY kafka_offset")]
        assert seqs == sorted(seqs), "ingest_seq follows the Kafka offsets on both paths"


def test_refused_rows_are_isolated_never_changed(pg_settings: PostgresSettings) -> None:
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        writer = _writer(conn)
        rows = _rows(100)
        # 2**40 does not fit `integer`: psycopg's binary dumper would store it as 0; it must be
        # refused with PostgreSQL's reason instead, and the other 99 rows still land.
        rows[10] = _with(rows[10], kafka_partition=2**40, natural_key="coinbase:bitcoin:overflow")
        # A value PostgreSQL refuses in the server (a malformed JSON payload).
        rows[70] = _with(rows[70], payload="{not json")
        with conn.transaction():
            result = writer.write(SPEC, rows)
        assert result.inserted == 98
        assert result.duplicates == 0
        assert [i for i, _ in result.rejected] == [10, 70]
        assert "NumericValueOutOfRange" in result.rejected[0][1]
        assert "InvalidTextRepresentation" in result.rejected[1][1]
        assert _count(conn) == (98, 98)
        assert conn.execute(
            "SELECT count(*) FROM raw_crypto_prices WHERE kafka_partition <> 0"
        ).fetchone() == (0,)
