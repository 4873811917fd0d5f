"""Versioned SQL migrations for the raw tables, applied idempotently at sink start-up.

Each `migrations/NNN_name.sql` runs once, in order, inside one transaction together with its row in
`schema_migrations`; an advisory lock serialises concurrent starters (several sink replicas).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6461746173746B  # "datastk": one advisory lock id for the raw schema
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} must look like 001_name.sql")
        found.append((int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    return found


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to call from many processes."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, text in migrations():
            if version in done:
                continue
            log.info("applying migration", extra={"migration": name})
            conn.execute(text.encode())  # bytes: sent as a simple query, several statements allowed
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied.append(name)
    return applied
