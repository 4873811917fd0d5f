"""A PostgreSQL advisory lock around every Dagster write to a dbt schema or to the lake.

Run-tag concurrency limits (lib/run_tags.py) keep queued runs from writing the same place at once,
but `datastack assets check` materializes in process, outside the run queue, and a run launched by
hand from the UI carries no job tags. Two dbt runs over the same schema collide on PostgreSQL
(`relation "..__dbt_tmp" already exists`), and two lake writers in Dagster would break the promise
that the lake has one Dagster writer at a time. A session-level advisory lock in the database being
written is the one guarantee every path shares, across processes and pods.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg

DEFAULT_WAIT = timedelta(minutes=10)


class LockBusyError(RuntimeError):
    """Another writer held the lock for longer than we were willing to wait."""


@contextmanager
def advisory_lock(conninfo: str, name: str, *, wait: timedelta = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the advisory lock `name` in the database of `conninfo` for the duration of the block."""
    with psycopg.connect(conninfo, autocommit=True, application_name="datastack-dagster-lock") as conn:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(wait.total_seconds() * 1000)}",))
        try:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
        except psycopg.errors.LockNotAvailable:
            raise LockBusyError(
                f"another writer held the lock {name!r} for more than {wait}; is a run stuck?"
            ) from None
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
