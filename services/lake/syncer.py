"""Incremental, idempotent copy of the raw PostgreSQL tables into DuckLake.

Per cycle: compute each table's settled upper bound (`fence.py`), then copy `(watermark, bound]` in
batches of at most SYNC_BATCH_ROWS rows per table. Each DuckLake transaction inserts one batch of
every table that is behind and appends `(table, last_ingest_seq)` rows to `_datastack_sync_state`,
so the data and the watermark commit together: a crash before COMMIT leaves neither (its Parquet
files become orphans that `lake maintain` deletes), a crash after leaves both.

The state table is append-only on purpose: in DuckLake an UPDATE/DELETE conflicts with a concurrent
compaction or flush of the same table, while appends never conflict, so `lake maintain` can run at
any time. It grows by one row per table per non-empty batch and is read only at start-up.

Batches are bounded by row count (an OFFSET over the primary key), not by seq range: the sink's
`ON CONFLICT DO NOTHING` burns identity values, so seq ranges can be mostly gaps. Small batches
(below SYNC_INLINE_ROW_LIMIT) are inlined into the catalog instead of each becoming a tiny Parquet
file; `lake maintain` flushes them into one file.

Commits are at least SYNC_MIN_COMMIT_GAP_S apart: DuckLake's commit retries are not fair, and a
stream of fast syncer commits could starve a slower dbt commit (services/lake/README.md).

One syncer per lake: a session advisory lock in the catalog database guards against a second
replica copying the same ranges (appends do not conflict in DuckLake, so it would duplicate rows).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import psycopg
from psycopg import sql

from services.config import PostgresSettings
from services.lake import metrics
from services.lake.backfills import BACKFILLS
from services.lake.connect import LAKE_ALIAS, SOURCE_ALIAS, connect
from services.lake.fence import FenceTracker
from services.lake.settings import LakeSettings, SyncSettings
from services.lake.tables import (
    LAKE_SCHEMA,
    RAW_TABLES,
    SOURCE_SCHEMA,
    STATE_TABLE,
    WATERMARK_COLUMN,
    quote_ident,
)

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6C616B6573796E63  # "lakesync": one syncer per catalog database
_JSON_TYPES = ("json", "jsonb")
_PARALLEL_SCAN_SHARE = 5  # parallel ctid scan when a batch spans >= 1/5 of the table


class WriterLockHeldError(RuntimeError):
    """Another syncer holds the lake's writer lock."""


@dataclass
class CycleResult:
    rows: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    watermarks: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False


@dataclass(frozen=True)
class _Columns:
    names: tuple[str, ...]
    json: frozenset[str]
    """Columns that are json/jsonb in PostgreSQL: the postgres extension reads them as VARCHAR."""

    @property
    def select(self) -> str:
        return ", ".join(
            f"CAST({quote_ident(n)} AS JSON) AS {quote_ident(n)}" if n in self.json else quote_ident(n)
            for n in self.names
        )

    @property
    def target(self) -> str:
        return ", ".join(quote_ident(n) for n in self.names)


def _lake(table: str) -> str:
    """Qualified, quoted lake table name. Identifiers in this module's SQL are allow-listed table
    names or source column names, always quoted; every value is a `?` parameter."""
    return f"{LAKE_ALIAS}.{LAKE_SCHEMA}.{quote_ident(table)}"


def _source(table: str) -> str:
    return f"{SOURCE_ALIAS}.{SOURCE_SCHEMA}.{quote_ident(table)}"


class Syncer:
    def __init__(self, lake: LakeSettings, pg: PostgresSettings, sync: SyncSettings) -> None:
        self.lake_settings = lake
        self.pg = pg
        self.sync = sync
        self._duck: duckdb.DuckDBPyConnection | None = None
        self._source: psycopg.Connection[tuple[object, ...]] | None = None
        self._lock: psycopg.Connection[tuple[object, ...]] | None = None
        self._columns: dict[str, _Columns] = {}
        self._watermarks: dict[str, int] = {}
        self._fences = FenceTracker()
        self._last_commit_at: float | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def open(self, lock_timeout_s: float = 0.0) -> None:
        """Take the writer lock, connect, create missing lake tables, read the watermarks."""
        if self._duck is not None:
            return
        try:
            self._acquire_lock(lock_timeout_s)
            self._source = psycopg.connect(self.pg.conninfo(), autocommit=True)
            self._duck = connect(self.lake_settings, self.pg, attach_source=True)
            self._ensure_tables()
            self._watermarks = self._read_watermarks()
            self._fences.reset()
        except BaseException:
            self.close()
            raise
        for table in RAW_TABLES:
            metrics.WATERMARK.labels(table).set(self._watermarks.get(table, 0))
        log.info("syncer ready", extra={"watermarks": self._watermarks})

    def close(self) -> None:
        for conn in (self._duck, self._source, self._lock):
            if conn is not None:
                with contextlib.suppress(Exception):  # closing after a failure: that error matters
                    conn.close()
        self._duck = self._source = self._lock = None

    def interrupt(self) -> None:
        """Abort the running DuckDB statement (called from another thread on shutdown)."""
        duck = self._duck
        if duck is not None:
            with contextlib.suppress(duckdb.Error):  # closed meanwhile: nothing to interrupt
                duck.interrupt()

    @property
    def watermarks(self) -> dict[str, int]:
        return dict(self._watermarks)

    def _acquire_lock(self, timeout_s: float) -> None:
        conn: psycopg.Connection[tuple[object, ...]] = psycopg.connect(
            self.lake_settings.catalog(self.pg).conninfo(), autocommit=True
        )
        deadline = time.monotonic() + timeout_s
        while True:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
            if row and row[0]:
                self._lock = conn
                return
            if time.monotonic() >= deadline:
                conn.close()
                raise WriterLockHeldError("another `datastack sync` holds this lake's writer lock")
            time.sleep(0.2)

    # -- schema ----------------------------------------------------------------------------------
    def _ensure_tables(self) -> None:
        duck = self._need_duck()
        duck.execute(
            f"CREATE TABLE IF NOT EXISTS {_lake(STATE_TABLE)} (table_name VARCHAR NOT NULL,"
            " last_ingest_seq BIGINT NOT NULL, batch_rows BIGINT NOT NULL,"
            " updated_at TIMESTAMP WITH TIME ZONE NOT NULL)"
        )
        for table in RAW_TABLES:
            columns = self._source_columns(table)
            self._columns[table] = columns
            exists = duck.execute(
                "SELECT count(*) FROM duckdb_tables()"
                " WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                [LAKE_ALIAS, LAKE_SCHEMA, table],
            ).fetchone()
            if not (exists and exists[0]):
                log.info("creating lake table", extra={"table": table})
                duck.execute(
                    f"CREATE TABLE {_lake(table)} AS SELECT {columns.select}"  # noqa: S608 - see _lake()
                    f" FROM {_source(table)} WITH NO DATA"
                )
            else:
                self._add_new_columns(table, columns)
            self._set_inline_limit(table)

    def _refresh_columns(self) -> None:
        """A migration can add raw-table columns while the syncer runs (the sink migrates at its
        start-up): pick them up before the next batch, or their values would never reach the lake."""
        for table in RAW_TABLES:
            columns = self._source_columns(table)
            if columns != self._columns.get(table):
                # The postgres extension caches the source catalog: without this it would neither
                # see nor select the new columns.
                self._need_duck().execute("CALL pg_clear_cache()")
                self._columns[table] = columns
                self._add_new_columns(table, columns)

    def _source_columns(self, table: str) -> _Columns:
        source = self._need_source()
        rows = source.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (SOURCE_SCHEMA, table),
        ).fetchall()
        if not rows:
            raise RuntimeError(f"source table {SOURCE_SCHEMA}.{table} does not exist (run the sink)")
        return _Columns(
            names=tuple(str(name) for name, _ in rows),
            json=frozenset(str(name) for name, data_type in rows if data_type in _JSON_TYPES),
        )

    def _add_new_columns(self, table: str, columns: _Columns) -> None:
        """Schema evolution: a column added to the raw table is added to the lake table."""
        duck = self._need_duck()
        have = {
            str(r[0])
            for r in duck.execute(
                "SELECT column_name FROM duckdb_columns()"
                " WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                [LAKE_ALIAS, LAKE_SCHEMA, table],
            ).fetchall()
        }
        types = dict(
            duck.execute(
                "SELECT column_name, data_type FROM duckdb_columns()"
                " WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                [SOURCE_ALIAS, SOURCE_SCHEMA, table],
            ).fetchall()
        )
        for name in columns.names:
            if name in have:
                continue
            # The type name comes from DuckDB's own catalog, not from user input.
            col_type = "JSON" if name in columns.json else str(types[name])
            log.info("adding lake column", extra={"table": table, "column": name, "type": col_type})
            duck.execute(f"ALTER TABLE {_lake(table)} ADD COLUMN {quote_ident(name)} {col_type}")
        self._backfill(table, set(columns.names))

    def _backfill(self, table: str, columns: set[str]) -> None:
        """Apply the lake side of migrations that rewrote rows the lake already has (backfills.py)."""
        duck = self._need_duck()
        for backfill in BACKFILLS:
            if backfill.table != table or backfill.needs_column not in columns:
                continue
            # Constant SQL from backfills.py; the table name is one of RAW_TABLES, quoted.
            updated = duck.execute(
                f"UPDATE {_lake(table)} SET {backfill.set_sql} WHERE {backfill.where_sql}"  # noqa: S608
            ).fetchone()
            if updated and updated[0]:
                log.info(
                    "backfilled lake rows",
                    extra={"table": table, "migration": backfill.migration, "rows": updated[0]},
                )

    def _set_inline_limit(self, table: str) -> None:
        """Persist the per-table inlining limit in the catalog (applies to every writer)."""
        duck = self._need_duck()
        limit = self.sync.sync_inline_row_limit
        current = duck.execute(
            "SELECT value FROM ducklake_options(?) WHERE option_name = 'data_inlining_row_limit'"
            " AND scope = 'TABLE' AND scope_entry = ?",
            [LAKE_ALIAS, f"{LAKE_SCHEMA}.{table}"],
        ).fetchone()
        if current is None or current[0] != str(limit):
            duck.execute(
                "CALL ducklake_set_option(?, 'data_inlining_row_limit', ?, schema => ?, table_name => ?)",
                [LAKE_ALIAS, limit, LAKE_SCHEMA, table],
            )

    def _read_watermarks(self) -> dict[str, int]:
        duck = self._need_duck()
        rows = duck.execute(
            f"SELECT table_name, max(last_ingest_seq) FROM {_lake(STATE_TABLE)}"  # noqa: S608
            " GROUP BY table_name"
        ).fetchall()
        watermarks = {str(name): int(seq) for name, seq in rows}
        for table in RAW_TABLES:
            if table in watermarks:
                continue
            # No recorded watermark but rows already there (a lake filled by another tool): start
            # after them rather than copying them again.
            seq = quote_ident(WATERMARK_COLUMN)
            row = duck.execute(f"SELECT max({seq}) FROM {_lake(table)}").fetchone()  # noqa: S608
            if row and row[0] is not None:
                log.warning("no sync state for a non-empty lake table", extra={"table": table})
                watermarks[table] = int(row[0])
        return watermarks

    # -- syncing ---------------------------------------------------------------------------------
    def run_cycle(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        on_commit: Callable[[], None] = lambda: None,
    ) -> CycleResult:
        """Copy every table up to its settled bound; stops between transactions when asked.
        `on_commit` runs after each transaction (the liveness tick during a long backfill)."""
        self.open()
        self._refresh_columns()
        result = CycleResult(rows=dict.fromkeys(RAW_TABLES, 0))
        bounds: dict[str, int] = {}
        source_max: dict[str, int] = {}
        for table in RAW_TABLES:
            if should_stop():
                result.interrupted = True
                break
            safe, newest = self._fences.safe_upper(
                self._need_source(), table, self.sync.sync_settle_timeout_s, should_stop
            )
            metrics.UNSETTLED.labels(table).set(self._fences.unsettled(table))
            source_max[table] = newest or 0
            if safe is not None:
                bounds[table] = safe
        # Each transaction takes up to SYNC_BATCH_ROWS rows from every table that is behind, so a
        # quiet cycle commits one snapshot, not one per table: fewer commits, fewer retry races
        # with other writers, and a catalog that grows more slowly.
        while not result.interrupted:
            behind = {t: self._watermarks.get(t, 0) for t in bounds}
            behind = {t: low for t, low in behind.items() if low < bounds[t]}
            if not behind:
                break
            if should_stop():
                result.interrupted = True
                break
            ranges = {t: (low, self._batch_end(t, low, bounds[t])) for t, low in behind.items()}
            self._commit(ranges, self._parallel_scans(ranges), result)
            on_commit()
        for table in RAW_TABLES:
            watermark = self._watermarks.get(table, 0)
            result.watermarks[table] = watermark
            result.lag[table] = max(0, source_max.get(table, 0) - watermark)
            metrics.SOURCE_MAX.labels(table).set(source_max.get(table, 0))
            metrics.LAG.labels(table).set(result.lag[table])
        return result

    def _batch_end(self, table: str, low: int, safe: int) -> int:
        """The seq of the SYNC_BATCH_ROWS-th row after `low`, or `safe` if fewer rows remain."""
        query = sql.SQL(
            "SELECT {seq} FROM {schema}.{table} WHERE {seq} > %s AND {seq} <= %s"
            " ORDER BY {seq} OFFSET %s LIMIT 1"
        ).format(
            seq=sql.Identifier(WATERMARK_COLUMN),
            schema=sql.Identifier(SOURCE_SCHEMA),
            table=sql.Identifier(table),
        )
        row = self._need_source().execute(query, (low, safe, self.sync.sync_batch_rows - 1)).fetchone()
        return int(row[0]) if row and isinstance(row[0], int) else safe

    def _parallel_scans(self, ranges: dict[str, tuple[int, int]]) -> dict[str, bool]:
        """Per table: read the batch with the extension's parallel ctid scan, or by primary key?

        The ctid scan splits the table into page ranges over several connections, but each range
        reads its share of the whole heap whatever the seq filter: ~1.5x faster for a backfill
        batch that is a large part of the table (measured), wasteful for the usual small batch,
        where a primary-key range scan reads only the batch. Unanalysed tables use the key.
        """
        parallel = {}
        for table, (low, high) in ranges.items():
            row = (
                self._need_source()
                .execute(
                    "SELECT reltuples FROM pg_catalog.pg_class WHERE oid = %s::regclass",
                    (f"{SOURCE_SCHEMA}.{table}",),
                )
                .fetchone()
            )
            estimated = row[0] if row and isinstance(row[0], float) else -1.0
            parallel[table] = estimated > 0 and (high - low) * _PARALLEL_SCAN_SHARE >= estimated
        return parallel

    def _commit(
        self, ranges: dict[str, tuple[int, int]], parallel: dict[str, bool], result: CycleResult
    ) -> None:
        """One DuckLake transaction: the rows of every (low, high] range plus their watermarks."""
        started = time.monotonic()
        rows, paced = self._insert_ranges(ranges, parallel)
        seconds = time.monotonic() - started - paced
        metrics.COMMITS.inc()
        metrics.BATCH_SECONDS.observe(seconds)
        for table, (_low, high) in ranges.items():
            self._watermarks[table] = high
            result.rows[table] += rows[table]
            result.batches += 1
            metrics.ROWS_SYNCED.labels(table).inc(rows[table])
            metrics.BATCHES.labels(table).inc()
            metrics.WATERMARK.labels(table).set(high)
        log.info(
            "batch committed",
            extra={
                "rows": rows,
                "watermarks": {t: high for t, (_low, high) in ranges.items()},
                "seconds": round(seconds, 3),
            },
        )

    def _insert_ranges(
        self, ranges: dict[str, tuple[int, int]], parallel: dict[str, bool]
    ) -> tuple[dict[str, int], float]:
        """Rows inserted per table, and the seconds the COMMIT waited for the commit gap."""
        duck = self._need_duck()
        seq = quote_ident(WATERMARK_COLUMN)
        rows: dict[str, int] = {}
        duck.execute("BEGIN TRANSACTION")
        try:
            for table, (low, high) in ranges.items():
                columns = self._columns[table]
                duck.execute("SET pg_use_ctid_scan = ?", [parallel[table]])
                inserted = duck.execute(
                    f"INSERT INTO {_lake(table)} ({columns.target}) SELECT {columns.select}"  # noqa: S608
                    f" FROM {_source(table)} WHERE {seq} > ? AND {seq} <= ?",
                    [low, high],
                ).fetchone()
                rows[table] = int(inserted[0]) if inserted else 0
                duck.execute(
                    f"INSERT INTO {_lake(STATE_TABLE)} VALUES (?, ?, ?, now())",  # noqa: S608
                    [table, high, rows[table]],
                )
            paced = self._pace_commit()
            duck.execute("COMMIT")
            self._last_commit_at = time.monotonic()
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT already ended it
                duck.execute("ROLLBACK")
            # The commit may or may not have landed (e.g. connection lost during COMMIT): forget
            # everything cached and re-read the watermarks from the lake on the next cycle.
            self.close()
            raise
        return rows, paced

    def _pace_commit(self) -> float:
        """Keep SYNC_MIN_COMMIT_GAP_S between our commits, so that other writers' commits (and
        their retries) find a window; the batch is staged already, only its COMMIT waits."""
        if self._last_commit_at is None:
            return 0.0
        delay = self._last_commit_at + self.sync.sync_min_commit_gap_s - time.monotonic()
        if delay <= 0:
            return 0.0
        metrics.COMMIT_PACING_SECONDS.inc(delay)
        time.sleep(delay)
        return delay

    # -- helpers ---------------------------------------------------------------------------------
    def _need_duck(self) -> duckdb.DuckDBPyConnection:
        if self._duck is None:
            raise RuntimeError("syncer is not open")
        return self._duck

    def _need_source(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._source is None:
            raise RuntimeError("syncer is not open")
        return self._source
