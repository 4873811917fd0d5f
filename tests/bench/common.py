"""Scratch resources for benchmarks: a throwaway database and topic namespace on the local servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.infra.local import LocalInfra
from services.infra.topics import ensure_topics
from services.sink.schema import migrate


@contextmanager
def scratch_database(infra: LocalInfra, prefix: str) -> Iterator[PostgresSettings]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = infra.postgres.conninfo("postgres", superuser=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(infra.postgres.user)
            )
        )
    settings = PostgresSettings(
        host=infra.postgres.host,
        port=infra.postgres.port,
        db=name,
        user=infra.postgres.user,
        password=infra.postgres.password,  # type: ignore[arg-type]
        sslmode="disable",
    )
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        migrate(conn)  # the raw tables exist before any service or poller touches them
    try:
        yield settings
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def scratch_topics(infra: LocalInfra, prefix: str) -> KafkaSettings:
    settings = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap, topic_namespace=f"{prefix}{uuid.uuid4().hex[:6]}."
    )
    ensure_topics(settings)
    return settings
