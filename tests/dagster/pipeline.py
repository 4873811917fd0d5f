"""Rows that came through the real pipeline, for the Dagster tests: the replay producers publish to
Kafka, the sink lands the messages in a fresh PostgreSQL database, the syncer copies them to a fresh
DuckLake. The same steps, in the same order, as tests/e2e/test_pipeline.py.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS
from tests.conftest import service_env
from tests.dbt.helpers import pg_query
from tests.support import messages
from tests.support.databases import postgres_env
from tests.support.proc import DATASTACK, ServiceProcess
from tests.support.wait import wait_until

PRODUCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    # One poll of every venue (with --count the quick venues would fill it before Gemini answers).
    ("crypto", ("--once",)),
    ("github", ("--count", "120")),
    ("weather", ("--count", "13")),
)
"""Replay messages per producer: a few polls of each recorded API."""


@dataclass(frozen=True)
class Landed:
    pg: PostgresSettings
    catalog_db: str
    data_path: Path
    raw_counts: dict[str, int] = field(default_factory=dict)

    def env(self, scratch: Path) -> dict[str, str]:
        """What the code location reads: the services' variables plus dbt's scratch directory."""
        return {
            **postgres_env(self.pg),
            "DUCKLAKE_CATALOG_DB": self.catalog_db,
            "DATA_PATH": str(self.data_path),
            "DBT_SCHEMA": "analytics",
            "DBT_TARGET_PATH": str(scratch / "dbt"),
        }


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> None:
    result = subprocess.run(
        [DATASTACK, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"datastack {' '.join(args)}:\n{result.stderr[-3000:]}"


def land(kafka: KafkaSettings, pg: PostgresSettings, catalog_db: str, data_path: Path) -> Landed:
    """Produce, sink and sync; returns the raw row counts (each stored once in PostgreSQL and once in
    the lake)."""
    env = service_env(kafka, pg, SINK_GROUP_ID=f"dagster-{uuid.uuid4().hex[:8]}", METRICS_PORT="0")
    for source, amount in PRODUCE:
        run(["produce", source, "--source", "replay", *amount], env)
    topics = [s.topic(kafka.topic_namespace) for s in STREAMS.values()]
    with ServiceProcess(["sink"], env) as sink:
        wait_until(
            lambda: messages.group_caught_up(kafka, env["SINK_GROUP_ID"], topics),
            timeout=120,
            interval=0.3,
            what="the sink to catch up",
        )
        assert sink.metric("datastack_sink_dead_lettered_total") == 0
        assert sink.stop() == 0
    run(["sync", "--once"], {**env, "DUCKLAKE_CATALOG_DB": catalog_db, "DATA_PATH": str(data_path)})
    counts = {
        s.raw_table: int(
            pg_query(pg, sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(s.raw_table)))[0]["n"]
        )
        for s in STREAMS.values()
    }
    assert all(counts.values()), counts
    return Landed(pg, catalog_db, data_path, counts)
