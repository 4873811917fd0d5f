"""Shared fixtures: the real local PostgreSQL and Kafka (started or reused by `datastack infra up`),
with per-test isolation: a fresh database and a unique topic namespace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from services.config import KafkaSettings, PostgresSettings
from services.infra import local
from services.infra.local import LocalInfra
from services.infra.topics import ensure_topics
from tests.support.databases import fresh_database, postgres_env, settings_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whatever uses the real servers is an integration test, marked or not (`-m "not integration"`
    then runs only what needs no server)."""
    for item in items:
        if "infra" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra() -> LocalInfra:
    """Start (or reuse) the local servers once per test session."""
    started = local.up()
    os.environ.update(started.env())
    return started


@pytest.fixture
def kafka_settings(infra: LocalInfra) -> KafkaSettings:
    """Settings whose topics (and DLQs) are private to this test."""
    settings = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap,
        topic_namespace=f"t{uuid.uuid4().hex[:10]}.",
    )
    ensure_topics(settings)
    return settings


@pytest.fixture
def pg_settings(infra: LocalInfra) -> Iterator[PostgresSettings]:
    """A fresh, empty database owned by the application role, dropped afterwards."""
    with fresh_database(infra) as name:
        yield settings_for(infra, name)


def service_env(
    kafka: KafkaSettings | None = None, pg: PostgresSettings | None = None, **extra: str
) -> dict[str, str]:
    """Environment for running a `datastack` subcommand as a real subprocess."""
    env = dict(os.environ)
    if kafka is not None:
        env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap_servers
        env["KAFKA_TOPIC_NAMESPACE"] = kafka.topic_namespace
    if pg is not None:
        env.update(postgres_env(pg))
    env.setdefault("LOG_FORMAT", "json")
    env["METRICS_PORT"] = "0"
    env.update(extra)
    return env
