"""Lake benchmark: the syncer over 1,000,000 raw rows vs one bulk `CREATE TABLE AS` through the same
postgres extension, the files the sync leaves before maintenance, and small-batch commit costs with
and without DuckLake data inlining. Scratch databases and a temporary data path, removed afterwards.

    python -m tests.bench lake
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from services.config import PostgresSettings
from services.infra.local import LocalInfra
from services.lake.connect import connect
from services.lake.settings import LakeSettings, SyncSettings
from services.lake.syncer import Syncer
from services.lake.tables import RAW_TABLES
from services.sink.schema import migrate
from tests.lake.rawrows import insert_rows
from tests.support.databases import fresh_database, settings_for

ROWS = 1_000_000
TABLE = "raw_crypto_prices"
SMALL_BATCH, SMALL_ROUNDS = 50, 40


def _live_files(lake: LakeSettings, pg: PostgresSettings, tables: tuple[str, ...]) -> int:
    con = connect(lake, pg, read_only=True)
    try:
        counts = [
            con.execute("SELECT count(*) FROM ducklake_list_files('lake', ?)", [t]).fetchone() for t in tables
        ]
        return sum(int(row[0]) for row in counts if row)
    finally:
        con.close()


def _small_batches(lake: LakeSettings, pg: PostgresSettings, inline_limit: int) -> tuple[float, int]:
    """Median time of one sync cycle copying SMALL_BATCH new rows (the steady-state trickle), and
    the Parquet files SMALL_ROUNDS such cycles add."""
    files_before = _live_files(lake, pg, (TABLE,))
    # Cycles back to back here; in service they are SYNC_INTERVAL_S apart, so the gap never applies.
    settings = SyncSettings(
        sync_inline_row_limit=inline_limit, sync_settle_timeout_s=1, sync_min_commit_gap_s=0
    )
    syncer = Syncer(lake, pg, settings)
    timings = []
    try:
        syncer.run_cycle()
        start = ROWS + 1 + (0 if inline_limit else SMALL_BATCH * SMALL_ROUNDS)
        for i in range(SMALL_ROUNDS):
            with psycopg.connect(pg.conninfo()) as conn:
                insert_rows(conn, TABLE, start + i * SMALL_BATCH, SMALL_BATCH)
            began = time.perf_counter()
            result = syncer.run_cycle()
            timings.append(time.perf_counter() - began)
            assert result.rows[TABLE] == SMALL_BATCH
    finally:
        syncer.close()
    return statistics.median(timings) * 1000, _live_files(lake, pg, (TABLE,)) - files_before


def run(infra: LocalInfra) -> Iterator[tuple[str, float | int]]:
    with (
        fresh_database(infra, "bench_raw") as raw_db,
        fresh_database(infra, "bench_lake") as catalog_db,
        tempfile.TemporaryDirectory(prefix="bench-lake-") as tmp,
    ):
        pg = settings_for(infra, raw_db)
        lake = LakeSettings(ducklake_catalog_db=catalog_db, data_path=str(Path(tmp) / "lake"))
        with psycopg.connect(pg.conninfo()) as conn:
            migrate(conn)
            began = time.perf_counter()
            insert_rows(conn, TABLE, 1, ROWS)
            conn.commit()
        yield "raw_rows_generated_s", time.perf_counter() - began
        with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(TABLE)))

        syncer = Syncer(lake, pg, SyncSettings())  # defaults: 250k-row batches
        try:
            syncer.open()
            began = time.perf_counter()
            result = syncer.run_cycle()
            sync_s = time.perf_counter() - began
        finally:
            syncer.close()
        assert result.rows[TABLE] == ROWS, result
        files = _live_files(lake, pg, RAW_TABLES)

        con = connect(lake, pg, attach_source=True)
        try:
            began = time.perf_counter()
            con.execute(
                "CREATE TABLE lake.main.bench_scan AS"  # noqa: S608 - fixed table name
                f" SELECT * REPLACE (CAST(payload AS JSON) AS payload) FROM source.public.{TABLE}"
            )
            scan_s = time.perf_counter() - began
        finally:
            con.close()

        sync_rate, scan_rate = ROWS / sync_s, ROWS / scan_s
        yield "sync_rows_per_s", sync_rate
        yield "lake_scan_rows_per_s", scan_rate
        yield "sync_vs_scan_ratio", sync_rate / scan_rate
        yield "lake_files_after_1m_rows", files
        yield "sync_commits_for_1m_rows", result.batches
        for mode, limit in (("inlined", SMALL_BATCH + 1), ("parquet", 0)):
            millis, new_files = _small_batches(lake, pg, inline_limit=limit)
            yield f"small_batch_cycle_ms_{mode}", millis
            yield f"small_batch_files_added_{mode}", new_files
