"""Sink benchmarks: our sink side by side with a peer, against a plain COPY, latency, memory.

The same BACKLOG crypto records (unique natural keys, built with the contract code, records.py) are
produced twice to one broker: in our envelope for `datastack sink`, and in Kafka Connect's
JSON-with-schema form for the peer, Debezium's JDBC sink connector in Kafka Connect standalone
(peer.py says where it comes from and how it is tuned). Each drains the whole backlog into a
database of its own on the same PostgreSQL server; they run back to back, alternating, for
BENCH_SINK_ROUNDS rounds (default 2), and the best round of each counts: other work on the machine
only ever slows a run down. Every round's rate and load average is printed too.

- peer_msgs_per_s / sink_msgs_per_s: first row -> last row; sink_vs_peer_ratio = sink / peer.
- peer_startup_s / sink_startup_s: process launched -> first row visible (backlog waiting).
- *_cpu_s, *_pg_cpu_s: CPU seconds over the drain of the process (tree) and of its PostgreSQL
  backends; *_msgs_per_cpu_s and sink_vs_peer_msgs_per_cpu_ratio: throughput per CPU second, the
  comparison a busy machine distorts least.
- copy_rows_per_s: the rows the sink wrote, COPY'd again by the same client library into a table of
  the same shape on the same server: the ceiling; sink_vs_copy_ratio = sink / copy.
- e2e_latency_p50/p99_ms: produce -> row visible (a poller sees the commit), at OFFERED_RATE msg/s
  for LATENCY_SECONDS, after WARMUP_SECONDS of the same load that are not measured.
- sink_peak_rss_mb / sink_peak_pss_mb: the sink's process tree (the consumer and its writer
  processes), summed, sampled during the drain; PSS counts the pages they share once.

    python -m tests.bench sink   # BENCH_SINK_BACKLOG, BENCH_SINK_ROUNDS, BENCH_SINK_RATE,
                                 # BENCH_SINK_LATENCY_S, BENCH_SINK_WARMUP_S, BENCH_PEER=0
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import psycopg
from confluent_kafka import Producer
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.infra.kafka import KAFKA_VERSION
from services.infra.local import LocalInfra
from services.sink.rows import TABLES
from tests.bench import peer
from tests.bench.common import (
    backend_cpu_seconds,
    cpu_seconds,
    load_average,
    memory_mb,
    scratch_database,
    scratch_topics,
    tree,
)
from tests.bench.records import STREAM, Record, records
from tests.conftest import service_env
from tests.support.proc import ServiceProcess
from tests.support.wait import wait_until

BACKLOG = int(os.environ.get("BENCH_SINK_BACKLOG", "1000000"))
OFFERED_RATE = int(os.environ.get("BENCH_SINK_RATE", "2000"))
LATENCY_SECONDS = int(os.environ.get("BENCH_SINK_LATENCY_S", "20"))
WARMUP_SECONDS = int(os.environ.get("BENCH_SINK_WARMUP_S", "10"))
WITH_PEER = os.environ.get("BENCH_PEER", "1") != "0"
ROUNDS = int(os.environ.get("BENCH_SINK_ROUNDS", "2"))
PEER_TOPIC = f"{STREAM.base_topic}.connect"
TABLE = TABLES[STREAM.name].table

Metric = tuple[str, float | int | str]


@dataclass
class Drain:
    startup_s: float
    msgs_per_s: float
    cpu_s: float
    pg_cpu_s: float
    peak_rss_mb: float
    peak_pss_mb: float
    load: float
    """1-minute load average at the end of the drain."""


def _rows(pg: PostgresSettings) -> int:
    try:
        with psycopg.connect(pg.conninfo(), connect_timeout=2) as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE))).fetchone()
            return int(row[0]) if row else 0
    except psycopg.errors.UndefinedTable:  # the peer creates its table with its first batch
        return 0


def _drain(pg: PostgresSettings, pid: Callable[[], int], launched: float) -> Drain:
    """Measure a sink process that was launched at `launched` on a waiting backlog of BACKLOG."""
    wait_until(lambda: _rows(pg), lambda c: c > 0, timeout=300, interval=0.05, what="first row")
    t0, c0 = time.perf_counter(), _rows(pg)
    startup = t0 - launched
    cpu0, pg0 = cpu_seconds(tree(pid())), backend_cpu_seconds(pg)
    peak = [0.0, 0.0]

    def probe() -> int:
        rss, pss = memory_mb(tree(pid()))
        peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
        return _rows(pg)

    wait_until(probe, lambda c: c >= BACKLOG, timeout=3600, interval=0.25, what="backlog drained")
    elapsed = time.perf_counter() - t0
    cpu, pg_cpu = cpu_seconds(tree(pid())) - cpu0, backend_cpu_seconds(pg) - pg0
    assert _rows(pg) == BACKLOG, "every record became exactly one row"
    return Drain(startup, (BACKLOG - c0) / elapsed, cpu, pg_cpu, peak[0], peak[1], load_average())


def _produce_backlog(kafka: KafkaSettings) -> None:
    """Both wire forms of the same records, in one pass over the generator."""
    producer = Producer({**kafka.client_config(), "enable.idempotence": True, "linger.ms": 20})
    ours, theirs = STREAM.topic(kafka.topic_namespace), f"{kafka.topic_namespace}{PEER_TOPIC}"
    for record in records(BACKLOG):
        _produce(producer, ours, record.key, record.envelope)
        if WITH_PEER:
            _produce(producer, theirs, record.connect_key, record.connect_value)
    assert producer.flush(120) == 0, "backlog not delivered"


def _produce(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value)
            break
        except BufferError:  # local queue full: let deliveries drain it
            producer.poll(0.1)
    producer.poll(0)


def _run_peer(infra: LocalInfra, kafka: KafkaSettings) -> Drain:
    with scratch_database(infra, "bench_peer", migrated=False) as pg:
        launched = time.perf_counter()
        with peer.connect_standalone(kafka, f"{kafka.topic_namespace}{PEER_TOPIC}", pg, TABLE) as pid:
            return _drain(pg, lambda: pid, launched)


def _run_sink(infra: LocalInfra, kafka: KafkaSettings, last: bool) -> tuple[Drain, float | None]:
    """Our sink's drain, and on the `last` round the plain-COPY ceiling measured on its rows."""
    with scratch_database(infra, "bench_sink") as pg:
        env = service_env(kafka, pg, SINK_GROUP_ID=f"bench-{uuid.uuid4().hex[:6]}", LOG_LEVEL="WARNING")
        launched = time.perf_counter()
        with ServiceProcess(["sink"], env) as sink:
            result = _drain(pg, lambda: sink.proc.pid, launched)
            assert sink.stop() == 0
        return result, _plain_copy_rate(pg) if last else None


def _report(name: str, runs: list[Drain]) -> Iterator[Metric]:
    """The best round (interference from other work only ever slows a run down), and every round's
    rate and load, so a noisy run shows as one."""
    best = max(runs, key=lambda r: r.msgs_per_s)
    yield f"{name}_msgs_per_s", best.msgs_per_s
    yield f"{name}_rounds_msgs_per_s", ", ".join(f"{r.msgs_per_s:.0f} (load {r.load:.1f})" for r in runs)
    yield f"{name}_startup_s", min(r.startup_s for r in runs)
    yield f"{name}_cpu_s", best.cpu_s
    yield f"{name}_pg_cpu_s", best.pg_cpu_s
    # Load-independent: messages per CPU second of the sink and its PostgreSQL backends together.
    yield f"{name}_msgs_per_cpu_s", BACKLOG / (best.cpu_s + best.pg_cpu_s)
    yield f"{name}_peak_rss_mb", max(r.peak_rss_mb for r in runs)
    if name == "sink":
        yield f"{name}_peak_pss_mb", max(r.peak_pss_mb for r in runs)


def _throughput(infra: LocalInfra) -> Iterator[Metric]:
    extra = (PEER_TOPIC,) if WITH_PEER else ()
    with scratch_topics(infra, "bsink", extra) as kafka:
        began = time.perf_counter()
        _produce_backlog(kafka)
        yield "backlog_records", BACKLOG
        yield "backlog_produce_s", time.perf_counter() - began
        if WITH_PEER:
            # Fetched once per machine (into ~/.cache/datastack): not part of the peer's start-up.
            peer.fetch_connect()
            peer.fetch_plugin()
            yield (
                "peer",
                f"{peer.PLUGIN_ARTIFACT} from Maven Central in Kafka Connect {KAFKA_VERSION} standalone",
            )
            yield "peer_tuning", peer.TUNING
        peers: list[Drain] = []
        sinks: list[Drain] = []
        copy_rate: float | None = None
        for i in range(ROUNDS):  # back to back, alternating, each from the start of the backlog
            if WITH_PEER:
                peers.append(_run_peer(infra, kafka))
            result, copy = _run_sink(infra, kafka, last=i == ROUNDS - 1)
            sinks.append(result)
            copy_rate = copy or copy_rate
        if WITH_PEER:
            yield from _report("peer", peers)
        yield from _report("sink", sinks)
        best = max(r.msgs_per_s for r in sinks)
        if WITH_PEER:
            yield "sink_vs_peer_ratio", best / max(r.msgs_per_s for r in peers)
            # Messages per CPU second (sink + its backends), ours over the peer's: the comparison a
            # busy machine distorts least.
            peer_cpu, sink_cpu = (min(r.cpu_s + r.pg_cpu_s for r in runs) for runs in (peers, sinks))
            yield "sink_vs_peer_msgs_per_cpu_ratio", peer_cpu / sink_cpu
        assert copy_rate is not None
        yield "copy_rows_per_s", copy_rate
        yield "sink_vs_copy_ratio", best / copy_rate


def _plain_copy_rate(pg: PostgresSettings) -> float:
    """COPY the rows the sink wrote into a fresh table of the same shape (same client, same server,
    text COPY of ready-made tuples, indexes included): what one COPY stream does with no decoding."""
    spec = TABLES[STREAM.name]
    with psycopg.connect(pg.conninfo()) as conn:
        # payload as text: exactly what the sink sends (it never builds Python dicts for jsonb).
        cols = sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(c)) if c == "payload" else sql.Identifier(c)
            for c in spec.columns
        )
        table, copy_table = sql.Identifier(spec.table), sql.Identifier(f"copy_{spec.table}")
        data = conn.execute(sql.SQL("SELECT {} FROM {}").format(cols, table)).fetchall()
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(copy_table, table))
        conn.commit()
        started = time.perf_counter()
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            copy_table, sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        )
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for row in data:
                copy.write_row(row)
        conn.commit()
        return len(data) / (time.perf_counter() - started)


def _latency(infra: LocalInfra) -> Iterator[Metric]:
    with scratch_topics(infra, "blat") as kafka, scratch_database(infra, "bench_lat") as pg:
        env = service_env(kafka, pg, SINK_GROUP_ID=f"bench-{uuid.uuid4().hex[:6]}", LOG_LEVEL="WARNING")
        offered = list(records(OFFERED_RATE * LATENCY_SECONDS, start=10))  # built before the clock runs
        with ServiceProcess(["sink"], env) as sink:
            # Warm up: the group has joined and the first batch is written; then WARMUP_SECONDS of
            # the same load, not measured. A broker just started serves its first seconds slowly
            # (measured right after `infra up`: p99 1,094 ms, then 519 ms on the next run).
            warm = Producer(kafka.client_config())
            for record in records(3):
                warm.produce(STREAM.topic(kafka.topic_namespace), key=record.key, value=record.envelope)
            warm.flush(30)
            wait_until(lambda: _rows(pg), lambda c: c >= 3, timeout=60, interval=0.05, what="warm-up")
            warmup = list(records(OFFERED_RATE * WARMUP_SECONDS, start=10 + len(offered)))
            _produce_at_rate(kafka, warmup, OFFERED_RATE)
            base = 3 + len(warmup)
            wait_until(
                lambda: _rows(pg), lambda c: c >= base, timeout=120, interval=0.05, what="warm-up load"
            )
            # The poller runs in its own process: in a thread it would compete with the paced
            # producer for the GIL and report its own delays as the sink's.
            ctx = mp.get_context("spawn")
            results, child = ctx.Pipe(duplex=False)
            poller = ctx.Process(target=_poll_visible, args=(pg, len(offered) + base, child), daemon=True)
            poller.start()
            assert results.recv() == "polling"
            sent = _produce_at_rate(kafka, offered, OFFERED_RATE)
            assert results.poll(180), "the poller did not see every row in time"
            seen: dict[str, float] = results.recv()
            poller.join(timeout=10)
            assert sink.stop() == 0
    assert set(sent) <= set(seen), "every offered record became a visible row"
    lat = sorted((seen[k] - sent[k]) * 1000 for k in sent)
    yield "e2e_offered_rate_msgs_per_s", float(OFFERED_RATE)
    yield "e2e_warmup_s", WARMUP_SECONDS
    yield "e2e_latency_p50_ms", statistics.median(lat)
    yield "e2e_latency_p99_ms", lat[int(len(lat) * 0.99) - 1]


def _produce_at_rate(kafka: KafkaSettings, offered: list[Record], rate: int) -> dict[str, float]:
    """Produce at `rate` msg/s; when each key was handed to the producer (wall clock)."""
    producer = Producer({**kafka.client_config(), "enable.idempotence": True, "linger.ms": 1})
    topic = STREAM.topic(kafka.topic_namespace)
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for i, record in enumerate(offered):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the offered load, not synchronisation
        producer.produce(topic, key=record.key, value=record.envelope)
        sent[record.key.decode()] = time.time()
        producer.poll(0)
    producer.flush(30)
    return sent


def _poll_visible(pg: PostgresSettings, expected: int, results: Connection) -> None:
    """(Own process.) Note when each row becomes visible until `expected` rows were seen, then send
    {natural_key: wall-clock time}. Reads by ingest_seq above the highest value below which every
    value has been seen: rows with lower values may commit after higher ones (several writers),
    so a plain "greater than the last seen" watermark would miss them."""
    seen: dict[str, float] = {}
    seqs: set[int] = set()
    low = 0
    deadline = time.monotonic() + 600
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        results.send("polling")
        while len(seen) < expected and time.monotonic() < deadline:
            rows = conn.execute(
                sql.SQL("SELECT ingest_seq, natural_key FROM {} WHERE ingest_seq > %s").format(
                    sql.Identifier(TABLE)
                ),
                (low,),
            ).fetchall()
            now = time.time()
            for seq, key in rows:
                seen.setdefault(key, now)
                seqs.add(seq)
            while low + 1 in seqs:
                seqs.discard(low + 1)
                low += 1
            time.sleep(0.01)
    results.send(seen)


def run(infra: LocalInfra) -> Iterator[Metric]:
    yield "host_cpus", os.cpu_count() or 0
    yield from _latency(infra)
    yield from _throughput(infra)
