"""Scratch resources for benchmarks (a throwaway database and topic namespace on the local servers),
and what benchmarks read about processes: CPU time and memory of a process tree."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from confluent_kafka.admin import AdminClient

from services.config import KafkaSettings, PostgresSettings
from services.infra.local import LocalInfra
from services.infra.topics import ensure_topics
from services.sink.schema import migrate
from tests.support.databases import fresh_database, settings_for

_TICK = os.sysconf("SC_CLK_TCK")


@contextmanager
def scratch_database(infra: LocalInfra, prefix: str, migrated: bool = True) -> Iterator[PostgresSettings]:
    """A throwaway database, by default with the raw tables migrated (pollers can count at once)."""
    with fresh_database(infra, prefix) as name:
        settings = settings_for(infra, name)
        if migrated:
            with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
                migrate(conn)
        yield settings


@contextmanager
def scratch_topics(infra: LocalInfra, prefix: str, extra: tuple[str, ...] = ()) -> Iterator[KafkaSettings]:
    """The contract's topics under a fresh namespace (plus `extra` topics, 3 partitions each);
    deleted afterwards, so a million-message benchmark does not leave gigabytes on the broker."""
    settings = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap, topic_namespace=f"{prefix}{uuid.uuid4().hex[:6]}."
    )
    names = ensure_topics(settings)
    admin = AdminClient(settings.client_config())
    if extra:
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

        topics = [
            NewTopic(f"{settings.topic_namespace}{t}", num_partitions=3, replication_factor=1) for t in extra
        ]
        for future in admin.create_topics(topics).values():
            future.result()
        names += [t.topic for t in topics]
    try:
        yield settings
    finally:
        with contextlib.suppress(Exception):  # best effort: never mask the benchmark's own error
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """A process and its children (the sink's writer processes; a JVM has none)."""
    return [pid, *children(pid)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (threads included)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) summed over processes, in MB. PSS splits pages shared between them (the Python
    runtime and libraries every writer process maps), so it is what they really take together."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def backend_cpu_seconds(pg: PostgresSettings) -> float:
    """CPU time of the PostgreSQL backends currently connected to `pg`'s database (the writers'
    sessions, which live as long as the sink), excluding this query's own session."""
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    return cpu_seconds(pids)


def load_average() -> float:
    return os.getloadavg()[0]
