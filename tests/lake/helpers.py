"""Helpers for the lake tests: read the lake and the source, compare them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from services.config import PostgresSettings
from services.lake.connect import connect
from services.lake.settings import LakeSettings, SyncSettings
from services.lake.syncer import Syncer

MakeSyncer = Callable[..., Syncer]
"""The `make_syncer` fixture: keyword overrides of SyncSettings -> an in-process Syncer."""


def sync_settings(**overrides: Any) -> SyncSettings:
    values: dict[str, Any] = {"sync_settle_timeout_s": 1.0, **overrides}
    return SyncSettings(**values)


def lake_rows(
    lake: LakeSettings, pg: PostgresSettings, query: str, params: list[object] | None = None
) -> list[tuple[Any, ...]]:
    """Run a read-only query against the lake (USE lake is in effect)."""
    con = connect(lake, pg, read_only=True)
    try:
        con.execute("USE lake")
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def lake_counts(lake: LakeSettings, pg: PostgresSettings, table: str) -> tuple[int, int, str]:
    """(rows, distinct natural keys, checksum of the natural keys) of a lake table."""
    checksum = "coalesce(md5(string_agg(natural_key, ',' ORDER BY natural_key)), '')"
    query = f"SELECT count(*), count(DISTINCT natural_key), {checksum} FROM main.{table}"  # noqa: S608
    (row,) = lake_rows(lake, pg, query)
    return int(row[0]), int(row[1]), str(row[2])


def source_counts(pg: PostgresSettings, table: str) -> tuple[int, int, str]:
    """The same figures from the PostgreSQL raw table."""
    with psycopg.connect(pg.conninfo()) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), count(DISTINCT natural_key), coalesce(md5(string_agg(natural_key, ','"
                " ORDER BY natural_key COLLATE \"C\")), '') FROM {}"
            ).format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), str(row[2])
