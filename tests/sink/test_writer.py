"""RawWriter against a real PostgreSQL: idempotence and isolation of rows the database refuses."""

from __future__ import annotations

import psycopg
import pytest

from services.config import PostgresSettings
from services.contract import STREAMS, StreamName
from services.contract.envelope import decode
from services.sink.rows import TABLES, Coordinates
from services.sink.schema import migrate
from services.sink.writer import RawWriter
from tests.support import messages

pytestmark = pytest.mark.integration


def _rows(n: int, start: int = 0) -> list[tuple[object, ...]]:
    spec = TABLES[StreamName.CRYPTO]
    out = []
    for i in range(start, start + n):
        key, value = messages.crypto(i)
        env = decode(STREAMS[StreamName.CRYPTO], value, key)
        out.append(spec.row(env, Coordinates("crypto_prices", 0, i)))
    return out


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


def test_duplicates_are_skipped_and_refused_rows_are_isolated(pg_settings: PostgresSettings) -> None:
    spec = TABLES[StreamName.CRYPTO]
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        assert migrate(conn) == ["001_raw_tables.sql"]
        assert migrate(conn) == []  # idempotent
        writer = RawWriter(conn)
        writer.prepare([spec])
        rows = _rows(100)
        with conn.transaction():
            first = writer.write(spec, rows)
        assert (first.inserted, first.duplicates, first.rejected) == (100, 0, [])

        # Half replayed, half new, and one row PostgreSQL cannot store (partition overflows integer).
        mixed = rows[50:] + _rows(50, start=100)
        bad = list(mixed[10])
        bad[spec.columns.index("kafka_partition")] = 2**40
        bad[spec.columns.index("natural_key")] = "bitcoin:overflow"
        mixed[10] = tuple(bad)
        with conn.transaction():
            second = writer.write(spec, mixed)
        assert second.inserted == 50
        assert second.duplicates == 49
        assert [i for i, _ in second.rejected] == [10]
        assert "NumericValueOutOfRange" in second.rejected[0][1]
        count = conn.execute("SELECT count(*), count(DISTINCT natural_key) FROM raw_crypto_prices").fetchone()
        assert count == (150, 150)
        seqs = [r[0] for r in conn.execute("SELECT ingest_seq FROM raw_crypto_prices ORDER BY kafka_offset")]
        assert seqs == sorted(seqs), "ingest_seq follows the Kafka offsets"
