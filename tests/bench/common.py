"""Scratch resources for benchmarks: a throwaway database and topic namespace on the local servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from services.config import KafkaSettings, PostgresSettings
from services.infra.local import LocalInfra
from services.infra.topics import ensure_topics
from services.sink.schema import migrate
from tests.support.databases import fresh_database, settings_for


@contextmanager
def scratch_database(infra: LocalInfra, prefix: str) -> Iterator[PostgresSettings]:
    """A throwaway database with the raw tables migrated, so pollers can count before the sink starts."""
    with fresh_database(infra, prefix) as name:
        settings = settings_for(infra, name)
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            migrate(conn)
        yield settings


def scratch_topics(infra: LocalInfra, prefix: str) -> KafkaSettings:
    settings = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap, topic_namespace=f"{prefix}{uuid.uuid4().hex[:6]}."
    )
    ensure_topics(settings)
    return settings
