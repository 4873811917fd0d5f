"""Sink benchmarks: throughput against a plain COPY, end-to-end latency at a fixed rate, peak RSS.

- sink_msgs_per_s: the real `datastack sink` process draining a backlog (first row -> last row).
- copy_rows_per_s: the same rows COPY'd by the same client library into a table of the same shape,
  on the same server, in the same run: the ceiling the sink is measured against.
- e2e_latency_p50/p99_ms: produce -> row visible (a poller sees the commit), at OFFERED_RATE msg/s.
- sink_peak_rss_mb: VmHWM of the sink process after draining the BACKLOG.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from confluent_kafka import Producer
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS, StreamName
from services.infra.local import LocalInfra
from services.sink.rows import TABLES
from tests.bench.common import scratch_database, scratch_topics
from tests.conftest import service_env
from tests.sink.conftest import total_rows
from tests.support import messages
from tests.support.proc import ServiceProcess
from tests.support.wait import wait_until

BACKLOG = int(os.environ.get("BENCH_SINK_BACKLOG", "1000000"))
OFFERED_RATE = int(os.environ.get("BENCH_SINK_RATE", "2000"))
LATENCY_SECONDS = int(os.environ.get("BENCH_SINK_LATENCY_S", "20"))


def _templates() -> dict[StreamName, dict[str, object]]:
    """One valid envelope per stream, as a dict to vary cheaply (pydantic per message is too slow
    to generate a million messages in a benchmark's setup)."""
    return {name: json.loads(messages.FACTORIES[name](0)[1]) for name in StreamName}


def fast_messages(n: int, start: int = 0) -> Iterator[tuple[StreamName, bytes, bytes]]:
    t = _templates()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    names = list(StreamName)
    for i in range(start, start + n):
        name = names[i % 3]
        doc = json.loads(json.dumps(t[name]))
        p = doc["payload"]
        if name is StreamName.CRYPTO:
            ts = base + timedelta(seconds=i)
            p["source_updated_at"] = doc["observed_at"] = ts.isoformat()
            p["price"] = 100 + (i % 997) / 10
            key = f"bitcoin:{int(ts.timestamp())}"
        elif name is StreamName.GITHUB:
            key = p["event_id"] = str(10_000_000 + i)
        else:
            ts = base + timedelta(minutes=i // 12)
            p["city_id"] = f"city-{i % 12}"
            p["observed_at"] = doc["observed_at"] = ts.isoformat()
            key = f"city-{i % 12}:{ts.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        doc["key"] = key
        yield name, key.encode(), json.dumps(doc).encode()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _throughput(infra: LocalInfra) -> Iterator[tuple[str, float]]:
    kafka = scratch_topics(infra, "bsink")
    messages.produce(kafka, fast_messages(BACKLOG))
    with scratch_database(infra, "bench_sink") as pg:
        env = service_env(kafka, pg, SINK_GROUP_ID=f"bench-{uuid.uuid4().hex[:6]}", LOG_LEVEL="WARNING")
        with ServiceProcess(["sink"], env) as sink:
            wait_until(lambda: total_rows(pg), lambda c: c > 0, timeout=60, interval=0.05, what="first rows")
            t0, c0 = time.perf_counter(), total_rows(pg)
            wait_until(
                lambda: total_rows(pg),
                lambda c: c >= BACKLOG,
                timeout=1800,
                interval=0.2,
                what="backlog drained",
            )
            rate = (BACKLOG - c0) / (time.perf_counter() - t0)
            rss = _peak_rss_mb(sink.proc.pid)
            sink.stop()
        copy_rate = _plain_copy_rate(pg)
    yield "sink_msgs_per_s", rate
    yield "copy_rows_per_s", copy_rate
    yield "sink_vs_copy_ratio", rate / copy_rate
    yield "sink_peak_rss_mb", rss


def _plain_copy_rate(pg: PostgresSettings) -> float:
    """COPY the rows the sink wrote into fresh tables of the same shape (same client, same server)."""
    with psycopg.connect(pg.conninfo()) as conn:
        data = {}
        for spec in TABLES.values():
            # payload as text: exactly what the sink sends (it never builds Python dicts for jsonb).
            cols = sql.SQL(", ").join(
                sql.SQL("{}::text").format(sql.Identifier(c)) if c == "payload" else sql.Identifier(c)
                for c in spec.columns
            )
            table, copy_table = sql.Identifier(spec.table), sql.Identifier(f"copy_{spec.table}")
            data[spec.table] = conn.execute(sql.SQL("SELECT {} FROM {}").format(cols, table)).fetchall()
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy_table, table))
        conn.commit()
        total = sum(len(rows) for rows in data.values())
        started = time.perf_counter()
        with conn.cursor() as cur:
            for spec in TABLES.values():
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(f"copy_{spec.table}"),
                    sql.SQL(", ").join(map(sql.Identifier, spec.columns)),
                )
                with cur.copy(statement) as copy:
                    for row in data[spec.table]:
                        copy.write_row(row)
        conn.commit()
        return total / (time.perf_counter() - started)


def _latency(infra: LocalInfra) -> Iterator[tuple[str, float]]:
    kafka = scratch_topics(infra, "blat")
    with scratch_database(infra, "bench_lat") as pg:
        env = service_env(kafka, pg, SINK_GROUP_ID=f"bench-{uuid.uuid4().hex[:6]}", LOG_LEVEL="WARNING")
        with ServiceProcess(["sink"], env) as sink:
            # Warm up: the group has joined and the first batch is written.
            messages.produce(kafka, fast_messages(3))
            wait_until(lambda: total_rows(pg), lambda c: c >= 3, timeout=60, interval=0.05, what="warm-up")
            sent: dict[str, float] = {}
            seen: dict[str, float] = {}
            done = threading.Event()
            poller = threading.Thread(target=_poll_visible, args=(pg, seen, done), daemon=True)
            poller.start()
            _produce_at_rate(kafka, sent, OFFERED_RATE, LATENCY_SECONDS)
            wait_until(
                lambda: len(seen),
                lambda c: c >= len(sent),
                timeout=120,
                interval=0.1,
                what="all produced rows visible",
            )
            done.set()
            poller.join()
            sink.stop()
    lat = sorted((seen[k] - sent[k]) * 1000 for k in sent)
    yield "e2e_offered_rate_msgs_per_s", float(OFFERED_RATE)
    yield "e2e_latency_p50_ms", statistics.median(lat)
    yield "e2e_latency_p99_ms", lat[int(len(lat) * 0.99) - 1]


def _produce_at_rate(kafka: KafkaSettings, sent: dict[str, float], rate: int, seconds: int) -> None:
    producer = Producer({**kafka.client_config(), "enable.idempotence": True, "linger.ms": 1})
    gen = fast_messages(rate * seconds, start=10)
    started = time.perf_counter()
    for i, (name, key, value) in enumerate(gen):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the offered load, not synchronisation
        producer.produce(STREAMS[name].topic(kafka.topic_namespace), key=key, value=value)
        sent[key.decode()] = time.time()
        producer.poll(0)
    producer.flush(30)


def _poll_visible(pg: PostgresSettings, seen: dict[str, float], done: threading.Event) -> None:
    last = {s.raw_table: 0 for s in STREAMS.values()}
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        while not done.is_set():
            for table in last:
                rows = conn.execute(
                    sql.SQL("SELECT ingest_seq, natural_key FROM {} WHERE ingest_seq > %s").format(
                        sql.Identifier(table)
                    ),
                    (last[table],),
                ).fetchall()
                now = time.time()
                for seq, key in rows:
                    seen.setdefault(key, now)
                    last[table] = max(last[table], seq)
            time.sleep(0.01)


def run(infra: LocalInfra) -> Iterator[tuple[str, float]]:
    yield from _latency(infra)
    yield from _throughput(infra)
