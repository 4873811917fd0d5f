"""Idempotent bulk writes into the raw tables, inside the caller's transaction.

The normal path costs one COPY: the batch is COPY'd straight into the raw table (in a savepoint).
Only when that COPY fails do we take the old path, COPY into a temporary staging table and
`INSERT ... ON CONFLICT (natural_key) DO NOTHING`:
- a unique violation means some rows are already there: a replay after a crash or a rebalance, or a
  producer retry. ON CONFLICT skips exactly those rows. Replays come in runs (a whole uncommitted
  tail), so the table stays on the staging path until a batch there finds no duplicate, instead
  of paying for a doomed COPY per batch;
- a row PostgreSQL refuses (a value it cannot store) is isolated by bisection inside savepoints and
  returned to the caller for the dead-letter topic; the rest of the batch still lands.

Both paths keep the batch's order (Kafka order within a partition), so `ingest_seq`, an identity
handed out as rows are inserted, follows the Kafka log within a partition. (The staging path
orders by partition and offset explicitly.)

The fast path uses COPY's binary format when every column has a type whose binary dumper is
checked here: it is cheaper on both sides (no text rendering of floats and timestamps in Python, no
parsing in PostgreSQL). psycopg's C dumper for `integer` silently wraps out-of-range values (2**40
becomes 0), so `integer` gets a range-checked dumper; a value that does not fit its column raises
before anything is sent and the batch takes the staging path, where PostgreSQL's own (text) input
functions decide and the row is dead-lettered with PostgreSQL's reason.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

from services.sink.rows import TableSpec

log = logging.getLogger(__name__)

BINARY_SAFE_TYPES = frozenset(
    {"text", "double precision", "timestamp with time zone", "bigint", "integer", "boolean", "jsonb"}
)
"""Column types written in binary COPY. Any other type keeps the whole table on text COPY."""

REFUSED = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
"""Errors that single out rows (bad values, constraint violations), as opposed to the connection."""
_CLIENT_DUMP = (OverflowError, TypeError, ValueError, struct.error)
"""A Python value the binary dumper of its column cannot encode (raised before anything is sent)."""

_INT4 = struct.Struct("!i")


class _CheckedInt4Dumper(Dumper):
    """`integer` in binary COPY that refuses, instead of wrapping, values outside its range."""

    format = Format.BINARY
    oid = pg_types["int4"].oid

    def dump(self, obj: Any) -> bytes:
        if not -(2**31) <= obj < 2**31:
            raise OverflowError(f"{obj} is out of range for type integer")
        return _INT4.pack(obj)


class _JsonTextBinaryDumper(Dumper):
    """`jsonb` in binary COPY from JSON text (the row carries the payload already serialised):
    format version 1, then the text. PostgreSQL parses and validates it as for text COPY."""

    format = Format.BINARY
    oid = pg_types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + (obj.encode() if isinstance(obj, str) else bytes(obj))


@dataclass
class TableResult:
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    """(index into the rows passed in, reason) for rows PostgreSQL refused."""
    staged: bool = False
    """True when the batch took the staging path (duplicates, refused rows, or a replay run)."""


class RawWriter:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._binary_types: dict[str, list[str] | None] = {}
        """Per table: the column types for binary COPY, or None to use text COPY."""
        self._replaying: set[str] = set()
        """Tables whose last batch found duplicates: they stay on the staging path for now."""

    def write(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> TableResult:
        """Write rows inside the caller's open transaction."""
        if spec.table not in self._replaying:
            try:
                with self.conn.transaction():  # a savepoint: a failed COPY leaves no row behind
                    self._copy(spec, spec.table, rows, self._binary_types.get(spec.table))
                return TableResult(inserted=len(rows))
            except psycopg.errors.UniqueViolation:
                self._replaying.add(spec.table)
                log.info(
                    "rows already stored (a replay): writing through ON CONFLICT", extra={"table": spec.table}
                )
            except (*REFUSED, *_CLIENT_DUMP):
                pass  # isolated below, with PostgreSQL's own reason per row
        result = TableResult(staged=True)
        self._write_isolating(spec, list(range(len(rows))), rows, result)
        result.duplicates = len(rows) - result.inserted - len(result.rejected)
        if result.duplicates == 0:
            self._replaying.discard(spec.table)
        return result

    def _write_isolating(
        self, spec: TableSpec, idx: list[int], rows: Sequence[tuple[Any, ...]], result: TableResult
    ) -> None:
        try:
            with self.conn.transaction():  # a savepoint inside the batch transaction
                result.inserted += self._stage_insert(spec, [rows[i] for i in idx])
        except REFUSED as exc:
            if len(idx) == 1:
                result.rejected.append((idx[0], f"{type(exc).__name__}: {exc}".strip()[:500]))
                return
            mid = len(idx) // 2
            self._write_isolating(spec, idx[:mid], rows, result)
            self._write_isolating(spec, idx[mid:], rows, result)

    def _copy(
        self, spec: TableSpec, table: str, rows: Sequence[tuple[Any, ...]], binary: list[str] | None
    ) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        fmt = sql.SQL(" (FORMAT BINARY)" if binary else "")
        with (
            self.conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} ({}) FROM STDIN{}").format(sql.Identifier(table), cols, fmt)) as copy,
        ):
            if binary:
                copy.set_types(binary)
            for row in rows:
                copy.write_row(row)

    def _stage_insert(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> int:
        stage = f"stage_{spec.table}"
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
            self._copy(spec, stage, rows, binary=None)  # text: PostgreSQL's input functions decide
            # Ordered by Kafka position so ingest_seq follows the log within a partition.
            cur.execute(
                sql.SQL(
                    "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}"
                    " ORDER BY kafka_partition, kafka_offset"
                    " ON CONFLICT ON CONSTRAINT {constraint} DO NOTHING"
                ).format(
                    table=sql.Identifier(spec.table),
                    cols=cols,
                    stage=sql.Identifier(stage),
                    constraint=sql.Identifier(f"{spec.table}_natural_key"),
                )
            )
            return cur.rowcount

    def prepare(self, specs: Sequence[TableSpec]) -> None:
        """Create the session's staging tables (committed at once, so a rolled-back batch keeps them)
        and choose each table's COPY format from its column types."""
        with self.conn.transaction():
            for spec in specs:
                cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
                self.conn.execute(
                    sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA").format(
                        sql.Identifier(f"stage_{spec.table}"), cols, sql.Identifier(spec.table)
                    )
                )
                types = dict(
                    self.conn.execute(
                        "SELECT attname, format_type(atttypid, NULL) FROM pg_catalog.pg_attribute"
                        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                        (spec.table,),
                    ).fetchall()
                )
                wanted = [types[c] for c in spec.columns]
                self._binary_types[spec.table] = wanted if set(wanted) <= BINARY_SAFE_TYPES else None
        # By oid only (no Python type): used where COPY's set_types() names the column type.
        self.conn.adapters.register_dumper(None, _CheckedInt4Dumper)
        self.conn.adapters.register_dumper(None, _JsonTextBinaryDumper)
