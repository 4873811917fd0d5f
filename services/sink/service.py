"""The sink's consume -> validate -> write -> commit loop.

Delivery: at-least-once consumption plus idempotent writes, so every valid message becomes exactly
one row. Per batch, in order:
  1. decode every message against the contract; failures become dead letters;
  2. in ONE PostgreSQL transaction: COPY + INSERT ... ON CONFLICT DO NOTHING per table (rows the
     database refuses are isolated and become dead letters), publish the dead letters and wait for
     their acks, then COMMIT;
  3. only then store the batch's offsets (enable.auto.offset.store=false); librdkafka's auto-commit
     sends them within a second, and revocation/shutdown commit synchronously.
A crash anywhere before 3 replays the batch, and the unique natural key absorbs the replay.
While PostgreSQL is unavailable the assignment is paused and the same batch is retried with
backoff; the consumer keeps polling (paused) so it stays in the group without buffering more.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS, Stream
from services.contract.envelope import ContractError, decode
from services.runtime import Health, StopFlag
from services.sink import metrics as m
from services.sink.dlq import DeadLetter, DeadLetterPublisher
from services.sink.rows import TABLES, Coordinates, TableSpec
from services.sink.schema import migrate
from services.sink.settings import SinkSettings
from services.sink.writer import RawWriter

log = logging.getLogger(__name__)

_TRANSIENT_DB = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass
class PreparedBatch:
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    origins: dict[str, list[Message]] = field(default_factory=lambda: defaultdict(list))
    letters: list[DeadLetter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Next offset to consume per (topic, partition): stored after the commit."""


def coordinates(msg: Message) -> Coordinates:
    """A consumed (non-error) message always has its topic, partition and offset."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    return Coordinates(topic, partition, offset)


def _names(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]


class Sink:
    def __init__(
        self,
        kafka: KafkaSettings,
        pg: PostgresSettings,
        cfg: SinkSettings,
        stop: StopFlag,
        health: Health,
        shutdown_timeout_s: float = 20.0,
    ) -> None:
        self.kafka, self.pg, self.cfg = kafka, pg, cfg
        self.stop, self.health = stop, health
        self.shutdown_timeout_s = shutdown_timeout_s
        ns = kafka.topic_namespace
        self.streams: dict[str, Stream] = {s.topic(ns): s for s in STREAMS.values()}
        self.specs: dict[str, TableSpec] = {spec.table: spec for spec in TABLES.values()}
        self.conn: psycopg.Connection[Any] | None = None
        self.writer: RawWriter | None = None
        self.dlq = DeadLetterPublisher(kafka)
        self.assigned: set[tuple[str, int]] = set()
        self.consumer = Consumer(self._consumer_config())

    # -- setup -----------------------------------------------------------------------------------
    def _consumer_config(self) -> dict[str, Any]:
        static = {"group.instance.id": self.cfg.group_instance_id} if self.cfg.group_instance_id else {}
        return {
            **static,
            **self.kafka.client_config(),
            "group.id": self.cfg.group_id,
            "client.id": "datastack-sink",
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.cfg.session_timeout_ms,
            "isolation.level": "read_committed",
            "queued.max.messages.kbytes": self.cfg.queued_max_kbytes,
            "statistics.interval.ms": self.cfg.statistics_interval_ms,
            "stats_cb": self._on_stats,
            "error_cb": self._on_error,
        }

    def _connect(self) -> None:
        conn: psycopg.Connection[Any] = psycopg.connect(
            self.pg.conninfo(), autocommit=True, connect_timeout=5
        )
        migrate(conn)
        writer = RawWriter(conn)
        writer.prepare(list(self.specs.values()))
        self.conn, self.writer = conn, writer
        log.info("connected to PostgreSQL", extra={"host": self.pg.host, "db": self.pg.db})

    def _disconnect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn, self.writer = None, None

    # -- main loop -------------------------------------------------------------------------------
    def run(self) -> None:
        self._with_db_retry(self._connect)
        self.consumer.subscribe(
            list(self.streams),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("sink started", extra={"topics": list(self.streams), "group": self.cfg.group_id})
        try:
            while not self.stop.is_set():
                batch = self._collect()
                if batch:
                    self._process(batch, deadline=None)
                self.health.tick()
                self.health.set_ready(self.conn is not None, assigned=len(self.assigned))
        finally:
            self._shutdown()

    def _collect(self) -> list[Message]:
        """Gather up to batch_max_messages, or whatever arrived within batch_max_wait_ms of the first."""
        batch: list[Message] = []
        wait_s = self.cfg.batch_max_wait_ms / 1000
        deadline: float | None = None
        while len(batch) < self.cfg.batch_max_messages and not self.stop.is_set():
            if deadline is None:
                # consume(n, t) blocks until n messages or t: ask for one, so the batch window
                # starts at the first message instead of after an idle timeout.
                msgs = self.consumer.consume(1, 0.5)
            else:
                timeout = max(0.0, deadline - time.monotonic())
                msgs = self.consumer.consume(self.cfg.batch_max_messages - len(batch), timeout)
            for msg in msgs:
                err = msg.error()
                if err is None:
                    batch.append(msg)
                elif err.code() != KafkaError._PARTITION_EOF:
                    self._on_error(err)
            for topic, n in Counter(msg.topic() for msg in msgs).items():
                m.CONSUMED.labels(topic).inc(n)
            if batch and deadline is None:
                deadline = time.monotonic() + wait_s
            if deadline is None and not msgs:
                break  # idle: let the caller tick health and check the stop flag
            if deadline is not None and time.monotonic() >= deadline:
                break
        return batch

    def _process(self, batch: list[Message], deadline: float | None) -> bool:
        """Write one batch, retrying transient failures. Returns False if abandoned (stop/deadline)."""
        delay = self.cfg.retry_initial_s
        paused = False
        try:
            while True:
                live = [msg for msg in batch if (msg.topic(), msg.partition()) in self.assigned]
                prepared = self._prepare(live)
                try:
                    if self.conn is None:
                        self._connect()
                    started = time.perf_counter()
                    self._write(prepared)
                    m.WRITE_LATENCY.observe(time.perf_counter() - started)
                    m.BATCH_SIZE.observe(len(live))
                    self._store_offsets(prepared)
                    return True
                except _TRANSIENT_DB as exc:
                    m.DB_ERRORS.labels(type(exc).__name__).inc()
                    log.warning("database unavailable; pausing", extra={"error": str(exc)[:300]})
                    self._disconnect()
                except RuntimeError as exc:  # dead-letter delivery failed: the transaction rolled back
                    m.KAFKA_ERRORS.labels("dlq").inc()
                    log.warning("dead-letter publish failed; retrying batch", extra={"error": str(exc)})
                if not paused:
                    self._pause(True)
                    paused = True
                # Poll while paused: serves rebalances and keeps group membership, buffers nothing.
                until = time.monotonic() + delay * random.uniform(0.5, 1.0)
                while time.monotonic() < until:
                    if self.stop.is_set() and deadline is None:
                        deadline = time.monotonic() + min(5.0, self.shutdown_timeout_s / 2)
                    if deadline is not None and time.monotonic() >= deadline:
                        log.warning(
                            "abandoning unwritten batch; it will be redelivered",
                            extra={"messages": len(batch)},
                        )
                        return False
                    self.consumer.consume(1, min(0.2, max(0.0, until - time.monotonic())))
                delay = min(delay * 2, self.cfg.retry_max_s)
        finally:
            if paused:
                self._pause(False)

    def _prepare(self, batch: list[Message]) -> PreparedBatch:
        prepared = PreparedBatch()
        for msg in batch:
            at = coordinates(msg)
            where = (at.topic, at.partition)
            prepared.offsets[where] = max(prepared.offsets.get(where, 0), at.offset + 1)
            stream = self.streams[at.topic]
            try:
                env = decode(stream, msg.value(), msg.key(), max_bytes=self.cfg.max_message_bytes)
            except ContractError as exc:
                prepared.letters.append(self._letter(msg, exc.error_class, exc.reason))
                continue
            spec = TABLES[stream.name]
            prepared.rows[spec.table].append(spec.row(env, at))
            prepared.origins[spec.table].append(msg)
        return prepared

    def _write(self, prepared: PreparedBatch) -> None:
        assert self.conn is not None
        assert self.writer is not None
        letters = list(prepared.letters)
        results = {}
        with self.conn.transaction():
            for table, rows in prepared.rows.items():
                result = self.writer.write(self.specs[table], rows)
                results[table] = result
                for index, reason in result.rejected:
                    letters.append(self._letter(prepared.origins[table][index], "db_rejected", reason))
            self.dlq.publish(letters, timeout_s=10.0)
        for table, result in results.items():
            m.ROWS_WRITTEN.labels(table).inc(result.inserted)
            m.DUPLICATES.labels(table).inc(result.duplicates)
        for letter in letters:
            m.DEAD_LETTERED.labels(letter.topic, letter.error_class).inc()
            log.warning(
                "dead-lettered message",
                extra={
                    "topic": letter.topic,
                    "partition": letter.partition,
                    "offset": letter.offset,
                    "error_class": letter.error_class,
                    "reason": letter.reason[:300],
                },
            )
        m.LAST_COMMIT.set_to_current_time()

    def _store_offsets(self, prepared: PreparedBatch) -> None:
        offsets = [
            TopicPartition(t, p, o) for (t, p), o in prepared.offsets.items() if (t, p) in self.assigned
        ]
        if not offsets:
            return
        try:
            self.consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:  # partition revoked meanwhile: its new owner re-reads, rows dedupe
            log.info("could not store offsets", extra={"error": str(exc)})

    @staticmethod
    def _letter(msg: Message, error_class: str, reason: str) -> DeadLetter:
        _ts_type, ts = msg.timestamp()
        at = coordinates(msg)
        return DeadLetter(at.topic, at.partition, at.offset, ts, msg.key(), msg.value(), error_class, reason)

    # -- group membership ------------------------------------------------------------------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info(
            "partitions assigned", extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]}
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Everything written is already stored; make it durable before the new owner starts reading.
        self._commit_sync(consumer)
        self.assigned.difference_update((tp.topic, tp.partition) for tp in partitions)
        log.info(
            "partitions revoked", extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]}
        )

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.difference_update((tp.topic, tp.partition) for tp in partitions)
        log.warning(
            "partitions lost", extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in partitions]}
        )

    def _pause(self, pause: bool) -> None:
        parts = [TopicPartition(t, p) for t, p in self.assigned]
        m.PAUSED.set(1 if pause else 0)
        if parts:
            (self.consumer.pause if pause else self.consumer.resume)(parts)

    @staticmethod
    def _commit_sync(consumer: Consumer) -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("offset commit failed", extra={"error": str(exc)})

    # -- callbacks and shutdown ------------------------------------------------------------------
    def _on_error(self, err: Any) -> None:
        m.KAFKA_ERRORS.labels(err.name()).inc()
        if err.fatal():
            raise KafkaException(err)
        log.warning("kafka error", extra={"code": err.name(), "error": err.str()})

    def _on_stats(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        for topic, tdata in stats.get("topics", {}).items():
            for part, pdata in tdata.get("partitions", {}).items():
                lag = pdata.get("consumer_lag", -1)
                if part != "-1" and lag >= 0:
                    m.LAG.labels(topic, part).set(lag)

    def _with_db_retry(self, action: Any) -> None:
        delay = self.cfg.retry_initial_s
        while True:
            try:
                action()
                return
            except _TRANSIENT_DB as exc:
                m.DB_ERRORS.labels(type(exc).__name__).inc()
                log.warning("database unavailable at start-up", extra={"error": str(exc)[:300]})
            if self.stop.wait(delay):
                raise SystemExit(0)
            delay = min(delay * 2, self.cfg.retry_max_s)

    def _shutdown(self) -> None:
        started = time.monotonic()
        log.info("sink stopping: committing written offsets")
        self._commit_sync(self.consumer)
        self.consumer.close()  # leaves the group; cooperative revoke commits again
        self.dlq.close(timeout_s=max(1.0, self.shutdown_timeout_s - (time.monotonic() - started)))
        self._disconnect()
        log.info("sink stopped", extra={"seconds": round(time.monotonic() - started, 3)})
