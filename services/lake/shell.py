"""`datastack lake shell`: DuckDB with the lake attached read-only, without the duckdb CLI binary.

`--sql "..."` runs the statements and prints each result (what tests and the README use); without it
a small REPL reads statements terminated by `;`. Output formats: a DuckDB box table, csv or json
(one object per line).
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal, TextIO

import duckdb

Format = Literal["table", "csv", "json"]

_PROMPT, _MORE = "lake> ", "  ...> "
_HELP = ".tables  list lake tables\n.quit    leave (or Ctrl-D)\nStatements end with ';'."


def _plain(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _print_relation(
    con: duckdb.DuckDBPyConnection, query: str, fmt: Format, out: TextIO, max_rows: int
) -> None:
    if fmt == "table":
        relation = con.sql(query)
        if relation is not None:
            with contextlib.redirect_stdout(out):  # show() prints through sys.stdout
                relation.show(max_rows=max_rows)
            out.flush()
        return
    cursor = con.execute(query)
    if cursor.description is None:
        return
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    else:
        for row in rows:
            out.write(json.dumps({n: _plain(v) for n, v in zip(names, row, strict=True)}) + "\n")
    out.flush()


def run_sql(
    con: duckdb.DuckDBPyConnection,
    text: str,
    fmt: Format = "table",
    out: TextIO = sys.stdout,
    max_rows: int = 1000,
) -> None:
    """Execute every statement in `text`, printing each result set."""
    for statement in con.extract_statements(text):
        _print_relation(con, statement.query, fmt, out, max_rows)


def repl(con: duckdb.DuckDBPyConnection, fmt: Format = "table") -> None:
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401 - line editing and history for input()
    print("DuckDB with the lake attached read-only as `lake` (USE lake). .help for help.")
    buffer: list[str] = []
    while True:
        try:
            line = input(_MORE if buffer else _PROMPT)
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            buffer.clear()
            continue
        stripped = line.strip()
        if not buffer and stripped.startswith("."):
            if stripped in (".quit", ".exit", ".q"):
                return
            command = {".tables": "SHOW TABLES", ".help": None}.get(stripped, "")
            if command:
                run_sql(con, command, fmt)
            else:
                print(_HELP)
            continue
        buffer.append(line)
        if not stripped.endswith(";"):
            continue
        text, buffer = "\n".join(buffer), []
        try:
            run_sql(con, text, fmt)
        except duckdb.Error as exc:
            print(f"Error: {exc}", file=sys.stderr)
