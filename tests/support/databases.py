"""Throwaway PostgreSQL databases on the local server: one helper for every test tier and benchmark."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from services.config import PostgresSettings
from services.infra.local import LocalInfra


@contextmanager
def fresh_database(infra: LocalInfra, prefix: str = "t") -> Iterator[str]:
    """Create an empty database owned by the application role; drop it (forcefully) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = infra.postgres.conninfo("postgres", superuser=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(infra.postgres.user)
            )
        )
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def settings_for(infra: LocalInfra, db: str) -> PostgresSettings:
    """Application-role settings for database `db` on the local server."""
    return PostgresSettings(
        host=infra.postgres.host,
        port=infra.postgres.port,
        db=db,
        user=infra.postgres.user,
        password=infra.postgres.password,  # type: ignore[arg-type]
        sslmode="disable",
    )


def postgres_env(pg: PostgresSettings) -> dict[str, str]:
    """The POSTGRES_* variables a service (or dbt, or the code location) reads to reach `pg`."""
    return {
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_DB": pg.db,
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password.get_secret_value(),
        "POSTGRES_SSLMODE": pg.sslmode,
    }
