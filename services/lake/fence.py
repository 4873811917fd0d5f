"""How far it is safe to copy a raw table: the settled upper bound of `ingest_seq`.

`ingest_seq` is an identity, so values are handed out in order but committed in any order: a sink
transaction that took seq 10 may commit after one that took seq 11. A syncer that copied up to 11
and stored watermark 11 would never see row 10. So we copy only up to a *fence*:

1. In one statement, read `hi = max(ingest_seq)` (the statement's snapshot) and, after that snapshot,
   the virtual transaction ids of every session holding RowExclusiveLock on the table (pg_locks).
2. Every value <= hi was handed out before the snapshot. PostgreSQL takes RowExclusiveLock while
   planning an INSERT, before it evaluates nextval(), and keeps it until commit or rollback, so any
   transaction that holds an unseen value <= hi is one of the lock holders read in step 1.
3. Once all of those transactions have ended (their `virtualxid` lock is gone), every row <= hi is
   committed and visible, or rolled back for good: hi is settled and is a safe upper bound.

Why this and not the alternatives: a timestamp or settle lag is only a guess about how long sink
transactions take; `pg_snapshot_xmin` plus row `xmin` misses a writer that has called nextval() but
not yet been assigned an xid (xids are assigned lazily, at the first tuple write). Relation locks
cover that window. Needs only SELECT on the table (pg_locks is readable by every role).

A cycle waits up to SYNC_SETTLE_TIMEOUT_S for its newest fence. A long-running writer keeps it open;
then we fall back to the newest older fence that has settled, so one slow transaction delays the
watermark but never makes us skip its rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from services.lake.tables import SOURCE_SCHEMA, WATERMARK_COLUMN, check_raw_table


@dataclass(frozen=True)
class Fence:
    hi: int | None
    """max(ingest_seq) visible when the fence was taken (None: the table was empty)."""
    writers: frozenset[str]
    """Virtual transaction ids that held RowExclusiveLock on the table just after that snapshot."""


def take_fence(conn: psycopg.Connection[tuple[object, ...]], table: str) -> Fence:
    """Read `hi` and then the open writers of `table` (one statement, so in that order)."""
    query = sql.SQL(
        "SELECT (SELECT max({seq}) FROM {schema}.{table}),"
        " ARRAY(SELECT l.virtualtransaction FROM pg_catalog.pg_locks l"
        "  WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'"
        "   AND l.relation = %s::regclass AND l.pid IS DISTINCT FROM pg_backend_pid()"
        "   AND l.database = (SELECT oid FROM pg_catalog.pg_database"
        "                     WHERE datname = current_database()))"
    ).format(
        seq=sql.Identifier(WATERMARK_COLUMN),
        schema=sql.Identifier(SOURCE_SCHEMA),
        table=sql.Identifier(check_raw_table(table)),
    )
    row = conn.execute(query, (f"{SOURCE_SCHEMA}.{table}",)).fetchone()
    assert row is not None
    hi, writers = row
    assert isinstance(writers, list)
    return Fence(hi if isinstance(hi, int) else None, frozenset(str(w) for w in writers))


def open_writers(conn: psycopg.Connection[tuple[object, ...]], vxids: frozenset[str]) -> frozenset[str]:
    """The subset of `vxids` whose transactions are still running."""
    if not vxids:
        return frozenset()
    rows = conn.execute(
        "SELECT virtualxid FROM pg_catalog.pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY(%s)",
        (sorted(vxids),),
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


class FenceTracker:
    """Per-table fences not yet known to be settled, oldest first."""

    def __init__(self, poll_s: float = 0.02, max_pending: int = 64) -> None:
        self._pending: dict[str, list[Fence]] = {}
        self._poll_s = poll_s
        self._max_pending = max_pending

    def safe_upper(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        table: str,
        timeout_s: float,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> tuple[int | None, int | None]:
        """(settled upper bound or None, newest source max seq) for `table`."""
        newest = take_fence(conn, table)
        pending = [*self._pending.get(table, []), newest]
        deadline = time.monotonic() + timeout_s
        settled: int | None = None
        while True:
            alive = open_writers(conn, frozenset().union(*(f.writers for f in pending)))
            # Fences settle in order: a writer still open for an old fence is also in every newer one.
            done = [i for i, f in enumerate(pending) if not (f.writers & alive)]
            if done:
                last = done[-1]
                if pending[last].hi is not None:
                    settled = pending[last].hi
                pending = pending[last + 1 :]
            if not pending or time.monotonic() >= deadline or should_stop():
                break
            time.sleep(self._poll_s)
        # A writer that never ends keeps every fence open; keep the newest few, progress resumes
        # from them once it ends.
        self._pending[table] = pending[-self._max_pending :]
        return settled, newest.hi

    def unsettled(self, table: str) -> int:
        """How many fences of `table` are waiting on writers (0 when fully settled)."""
        return len(self._pending.get(table, []))

    def reset(self) -> None:
        self._pending.clear()
