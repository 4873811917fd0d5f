"""`datastack lake maintain`: DuckLake's own maintenance functions, in CHECKPOINT's order.

1. flush inlined rows of the syncer's tables into Parquet (`ducklake_flush_inlined_data`);
2. expire snapshots older than LAKE_SNAPSHOT_RETENTION (`ducklake_expire_snapshots`);
3. merge adjacent small files, table by table (`ducklake_merge_adjacent_files`);
4. delete files scheduled for deletion at least LAKE_FILE_CLEANUP_DELAY ago
   (`ducklake_cleanup_old_files`);
5. delete untracked files older than LAKE_ORPHAN_MIN_AGE (`ducklake_delete_orphaned_files`).

Why not plain CHECKPOINT: it flushes every table, and a flush of a table that dbt is replacing at that
moment fails with a conflict; it also cannot be given the safety ages above. Running while the
syncer writes is safe: the syncer only appends, and appends do not conflict with flush, merge or
expiry in DuckLake. Orphan deletion must never use `cleanup_all`: a writer's Parquet files are
untracked until it commits, and deleting them breaks that commit (seen in testing).

A step that loses a race with another writer (dbt replacing a table we are merging) is retried, then
reported in `errors`; the rest of the run continues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import duckdb

from services.lake.connect import LAKE_ALIAS
from services.lake.settings import MaintenanceSettings
from services.lake.tables import LAKE_SCHEMA, RAW_TABLES, STATE_TABLE

log = logging.getLogger(__name__)


def lake_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY ALL",
        [LAKE_ALIAS],
    ).fetchall()
    return [(str(schema), str(table)) for schema, table in rows]


def live_files(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Parquet data files referenced by the current snapshot, per `schema.table`."""
    counts = {}
    for schema, table in lake_tables(con):
        row = con.execute(
            "SELECT count(*) FROM ducklake_list_files(?, ?, schema => ?)", [LAKE_ALIAS, table, schema]
        ).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


class _Run:
    def __init__(self, con: duckdb.DuckDBPyConnection, attempts: int) -> None:
        self.con = con
        self.attempts = attempts
        self.errors: list[str] = []

    def rows(self, step: str, query: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """Run one maintenance call, retrying lost races; [] and an entry in `errors` on failure."""
        for attempt in range(1, self.attempts + 1):
            try:
                return self.con.execute(query, list(params)).fetchall()
            except duckdb.Error as exc:
                if attempt == self.attempts:
                    log.warning("maintenance step failed", extra={"step": step, "error": str(exc)})
                    self.errors.append(f"{step}: {exc}")
                else:
                    time.sleep(0.2 * attempt)
        return []


def maintain(
    con: duckdb.DuckDBPyConnection,
    settings: MaintenanceSettings,
    *,
    attempts: int = 3,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Run the maintenance steps on the attached `lake`; returns a JSON-ready summary."""
    started = clock()
    run = _Run(con, attempts)
    before = live_files(con)

    flushed: dict[str, int] = {}
    for table in (*RAW_TABLES, STATE_TABLE):
        if f"{LAKE_SCHEMA}.{table}" not in before:
            continue
        for _schema, name, rows in run.rows(
            f"flush {table}",
            "SELECT * FROM ducklake_flush_inlined_data(?, schema_name => ?, table_name => ?)",
            [LAKE_ALIAS, LAKE_SCHEMA, table],
        ):
            flushed[str(name)] = flushed.get(str(name), 0) + int(rows)

    expired = run.rows(
        "expire snapshots",
        "SELECT snapshot_id FROM ducklake_expire_snapshots(?, older_than => now() - ?)",
        [LAKE_ALIAS, settings.lake_snapshot_retention],
    )

    merged_away = created = 0
    for schema, table in lake_tables(con):
        for _s, _t, processed, new in run.rows(
            f"merge {schema}.{table}",
            "SELECT * FROM ducklake_merge_adjacent_files(?, ?, schema => ?)",
            [LAKE_ALIAS, table, schema],
        ):
            merged_away += int(processed)
            created += int(new)

    deleted = run.rows(
        "cleanup old files",
        "SELECT * FROM ducklake_cleanup_old_files(?, older_than => now() - ?)",
        [LAKE_ALIAS, settings.lake_file_cleanup_delay],
    )
    orphans = run.rows(
        "delete orphaned files",
        "SELECT * FROM ducklake_delete_orphaned_files(?, older_than => now() - ?)",
        [LAKE_ALIAS, settings.lake_orphan_min_age],
    )
    after = live_files(con)
    return {
        "data_files_before": sum(before.values()),
        "data_files_after": sum(after.values()),
        "data_files_by_table": {t: {"before": before.get(t, 0), "after": n} for t, n in after.items()},
        "inlined_rows_flushed": flushed,
        "files_merged": merged_away,
        "files_written_by_merge": created,
        "snapshots_expired": len(expired),
        "old_files_deleted": len(deleted),
        "orphaned_files_deleted": len(orphans),
        "errors": run.errors,
        "seconds": round(clock() - started, 3),
    }
