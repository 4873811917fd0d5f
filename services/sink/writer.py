"""Idempotent bulk writes: COPY into a temporary staging table, then INSERT ... ON CONFLICT DO NOTHING.

Rows the database itself rejects (a value PostgreSQL cannot store) are isolated by bisection inside
savepoints and returned to the caller for the dead-letter topic; the rest of the batch still lands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from services.sink.rows import TableSpec

log = logging.getLogger(__name__)


@dataclass
class TableResult:
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    """(index into the rows passed in, reason) for rows PostgreSQL refused."""


class RawWriter:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def write(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> TableResult:
        """Write rows inside the caller's open transaction."""
        result = TableResult()
        self._write_isolating(spec, list(range(len(rows))), rows, result)
        result.duplicates = len(rows) - result.inserted - len(result.rejected)
        return result

    def _write_isolating(
        self, spec: TableSpec, idx: list[int], rows: Sequence[tuple[Any, ...]], result: TableResult
    ) -> None:
        try:
            with self.conn.transaction():  # a savepoint inside the batch transaction
                result.inserted += self._copy_insert(spec, [rows[i] for i in idx])
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            if len(idx) == 1:
                result.rejected.append((idx[0], f"{type(exc).__name__}: {exc}".strip()[:500]))
                return
            mid = len(idx) // 2
            self._write_isolating(spec, idx[:mid], rows, result)
            self._write_isolating(spec, idx[mid:], rows, result)

    def _copy_insert(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> int:
        stage = sql.Identifier(f"stage_{spec.table}")
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("TRUNCATE {}").format(stage))
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
                for row in rows:
                    copy.write_row(row)
            # Ordered by Kafka position so ingest_seq follows the log within a partition.
            cur.execute(
                sql.SQL(
                    "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}"
                    " ORDER BY kafka_partition, kafka_offset"
                    " ON CONFLICT ON CONSTRAINT {constraint} DO NOTHING"
                ).format(
                    table=sql.Identifier(spec.table),
                    cols=cols,
                    stage=stage,
                    constraint=sql.Identifier(f"{spec.table}_natural_key"),
                )
            )
            return cur.rowcount

    def prepare(self, specs: Sequence[TableSpec]) -> None:
        """Create the session's staging tables (committed at once, so a rolled-back batch keeps them)."""
        with self.conn.transaction():
            for spec in specs:
                cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
                self.conn.execute(
                    sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA").format(
                        sql.Identifier(f"stage_{spec.table}"), cols, sql.Identifier(spec.table)
                    )
                )
