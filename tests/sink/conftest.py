from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS
from tests.conftest import service_env
from tests.support import messages
from tests.support.wait import wait_until


@pytest.fixture
def sink_env(kafka_settings: KafkaSettings, pg_settings: PostgresSettings) -> dict[str, str]:
    return service_env(
        kafka_settings,
        pg_settings,
        SINK_GROUP_ID=f"sink-{uuid.uuid4().hex[:8]}",
        SINK_RETRY_MAX_S="1",
        SINK_STATISTICS_INTERVAL_MS="1000",
        LOG_LEVEL="INFO",
        # A killed sink's partitions return to the group after 6 s instead of 45 s.
        SINK_SESSION_TIMEOUT_MS="6000",
    )


def total_rows(pg: PostgresSettings) -> int:
    try:
        with psycopg.connect(pg.conninfo(), connect_timeout=2) as conn:
            return sum(
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(s.raw_table))
                ).fetchone()[0]
                for s in STREAMS.values()
            )
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return -1


@pytest.fixture
def wait_for_rows(pg_settings: PostgresSettings) -> Callable[..., int]:
    def wait(n: int, timeout: float = 90.0, pg: PostgresSettings | None = None) -> int:
        return wait_until(
            lambda: total_rows(pg or pg_settings),
            lambda c: c >= n,
            timeout=timeout,
            interval=0.2,
            what=f"{n} rows",
        )

    return wait


@pytest.fixture
def wait_caught_up(kafka_settings: KafkaSettings, sink_env: dict[str, str]) -> Callable[[], None]:
    """Wait until the sink's group has committed every offset of the three topics."""
    topics = [s.topic(kafka_settings.topic_namespace) for s in STREAMS.values()]

    def wait(timeout: float = 60.0) -> None:
        wait_until(
            lambda: messages.group_caught_up(kafka_settings, sink_env["SINK_GROUP_ID"], topics),
            timeout=timeout,
            interval=0.3,
            what="committed offsets at the end of every partition",
        )

    return wait
