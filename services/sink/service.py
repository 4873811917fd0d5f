"""The sink's consumer side: consume -> validate -> hand to the committer -> store offsets.

Delivery: at-least-once consumption plus idempotent writes, so every valid message becomes exactly
one row. This thread owns the Kafka consumer; `Committer` (its own thread) owns PostgreSQL. Per batch:
  1. collect up to SINK_BATCH_MAX_MESSAGES, or what arrived within SINK_BATCH_MAX_WAIT_MS of the
     first message; decode each against the contract (failures become dead letters);
  2. the committer writes the batch and its dead letters in one transaction (see committer.py);
  3. only after that commit are the batch's offsets stored (enable.auto.offset.store=false);
     librdkafka's auto-commit sends them within a second, and revocation/shutdown commit
     synchronously.
A crash anywhere before 3 replays the batch, and the unique natural key absorbs the replay.
While PostgreSQL is unavailable, or the committer is busy and a batch is already waiting, the
assignment is paused; the consumer keeps polling so it stays in the group, and at most four
batches are held in memory (being written, queued, being handed over, carried over).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS, Stream
from services.contract.envelope import ContractError, decode
from services.runtime import Health, StopFlag
from services.sink import metrics as m
from services.sink.committer import Committer, PreparedBatch
from services.sink.dlq import DeadLetter, DeadLetterPublisher
from services.sink.rows import TABLES, Coordinates, TableSpec
from services.sink.settings import SinkSettings

log = logging.getLogger(__name__)

REVOKE_DRAIN_S = 10.0
"""On revocation, how long to wait for in-flight batches before committing what is written."""


def coordinates(msg: Message) -> Coordinates:
    """A consumed (non-error) message always has its topic, partition and offset."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    return Coordinates(topic, partition, offset)


def dead_letter(msg: Message, error_class: str, reason: str) -> DeadLetter:
    _ts_type, ts = msg.timestamp()
    at = coordinates(msg)
    return DeadLetter(at.topic, at.partition, at.offset, ts, msg.key(), msg.value(), error_class, reason)


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
        self.kafka, self.cfg = kafka, cfg
        self.stop, self.health = stop, health
        self.shutdown_timeout_s = shutdown_timeout_s
        ns = kafka.topic_namespace
        self.streams: dict[str, Stream] = {s.topic(ns): s for s in STREAMS.values()}
        specs: dict[str, TableSpec] = {spec.table: spec for spec in TABLES.values()}
        self.dlq = DeadLetterPublisher(kafka)
        self.committer = Committer(pg, cfg, specs, self.dlq, dead_letter)
        self.assigned: set[tuple[str, int]] = set()
        self.paused_parts: set[tuple[str, int]] = set()
        self.carry: list[Message] = []
        """Messages that arrived while waiting for the committer: they start the next batch."""
        self._stop_deadline: float | None = None
        self.consumer = Consumer(self._consumer_config())

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

    # -- main loop -------------------------------------------------------------------------------
    def run(self) -> None:
        self.committer.connect_with_retry(self.stop)
        self.committer.start()
        self.consumer.subscribe(
            list(self.streams), on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info("sink started", extra={"topics": list(self.streams), "group": self.cfg.group_id})
        try:
            while not self.stop.is_set():
                self._store_completed()
                batch = self._collect()
                if batch:
                    self._submit(self._prepare(batch))
                self.health.tick()
                self.health.set_ready(not self.committer.db_down.is_set(), assigned=len(self.assigned))
        finally:
            self._shutdown()

    def _collect(self) -> list[Message]:
        """Gather up to batch_max_messages, or whatever arrived within batch_max_wait_ms of the first."""
        batch, self.carry = self.carry, []
        deadline = time.monotonic() + self.cfg.batch_max_wait_ms / 1000 if batch else None
        while len(batch) < self.cfg.batch_max_messages and not self.stop.is_set():
            if deadline is None:
                # consume(n, t) blocks until n messages or t: ask for one, so the batch window
                # starts at the first message instead of after an idle timeout.
                msgs = self.consumer.consume(1, 0.5)
            else:
                timeout = max(0.0, deadline - time.monotonic())
                msgs = self.consumer.consume(self.cfg.batch_max_messages - len(batch), timeout)
            batch.extend(self._usable(msgs))
            if batch and deadline is None:
                deadline = time.monotonic() + self.cfg.batch_max_wait_ms / 1000
            if deadline is None and not msgs:
                break  # idle: let the caller tick health and check the stop flag
            if deadline is not None and time.monotonic() >= deadline:
                break
        return batch

    def _usable(self, msgs: list[Message]) -> list[Message]:
        good = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                self._on_error(err)
        for topic, n in Counter(msg.topic() for msg in good).items():
            m.CONSUMED.labels(topic).inc(n)
        return good

    def _prepare(self, batch: list[Message]) -> PreparedBatch:
        prepared = PreparedBatch(size=len(batch))
        now = datetime.now(UTC)
        for msg in batch:
            at = coordinates(msg)
            where = (at.topic, at.partition)
            prepared.offsets[where] = max(prepared.offsets.get(where, 0), at.offset + 1)
            stream = self.streams[at.topic]
            try:
                env = decode(stream, msg.value(), msg.key(), now=now, max_bytes=self.cfg.max_message_bytes)
            except ContractError as exc:
                prepared.letters.append(dead_letter(msg, exc.error_class, exc.reason))
                continue
            spec = TABLES[stream.name]
            prepared.rows[spec.table].append(spec.row(env, at))
            prepared.origins[spec.table].append(msg)
        return prepared

    def _submit(self, batch: PreparedBatch) -> None:
        """Hand the batch to the committer; while it is busy or PostgreSQL is down, pause and poll.
        After SIGTERM this gives up at the shutdown deadline (the batch is simply redelivered)."""
        while not self.committer.submit(batch, timeout=0.1):
            self._store_completed()
            room = self.cfg.batch_max_messages - len(self.carry)
            self._pause(self.committer.db_down.is_set() or room <= 0)
            # Serve rebalances and keep group membership; what arrives meanwhile starts the next
            # batch. Once that is full the assignment is paused; a message from a partition assigned
            # in between may still slip in, and is kept, never dropped.
            self.carry.extend(self._usable(self.consumer.consume(max(1, min(100, room)), 0.1)))
            self.health.tick()
            if self.stop.is_set() and time.monotonic() > self._shutdown_deadline(half=True):
                log.warning("abandoning unwritten batch at shutdown; it will be redelivered")
                return
        self._pause(False)

    def _store_completed(self) -> None:
        """Store offsets of batches the committer has committed (in order, on this thread)."""
        while True:
            try:
                batch = self.committer.done.get_nowait()
            except Exception:
                return
            offsets = [
                TopicPartition(t, p, o) for (t, p), o in batch.offsets.items() if (t, p) in self.assigned
            ]
            if not offsets:
                continue
            try:
                self.consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:  # revoked meanwhile: its new owner re-reads, rows dedupe
                log.info("could not store offsets", extra={"error": str(exc)})

    # -- group membership ------------------------------------------------------------------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info("partitions assigned", extra={"partitions": _names(partitions)})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Let in-flight batches commit, store their offsets, and make them durable before the new
        # owner starts reading. If PostgreSQL is down this gives up after REVOKE_DRAIN_S: the new
        # owner re-reads the unwritten tail, and the natural key absorbs any overlap. At shutdown
        # the committer has already been given its time.
        self.committer.drain(0.5 if self.stop.is_set() else REVOKE_DRAIN_S)
        self._store_completed()
        self._commit_sync(consumer)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned -= gone
        self.paused_parts -= gone
        self.carry = [msg for msg in self.carry if (msg.topic(), msg.partition()) not in gone]
        log.info("partitions revoked", extra={"partitions": _names(partitions)})

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.assigned -= gone
        self.paused_parts -= gone
        self.carry = [msg for msg in self.carry if (msg.topic(), msg.partition()) not in gone]
        log.warning("partitions lost", extra={"partitions": _names(partitions)})

    def _pause(self, pause: bool) -> None:
        """Pause or resume every assigned partition; re-applied on each call, so partitions
        assigned while paused get paused too. The metric reports outages only, not the routine
        back-pressure of a busy committer."""
        m.PAUSED.set(1 if pause and self.committer.db_down.is_set() else 0)
        change = (self.assigned - self.paused_parts) if pause else (self.paused_parts & self.assigned)
        if change:
            parts = [TopicPartition(t, p) for t, p in change]
            (self.consumer.pause if pause else self.consumer.resume)(parts)
        self.paused_parts = set(self.assigned) if pause else set()

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

    def _shutdown_deadline(self, half: bool = False) -> float:
        """When in-flight writes must be done (or abandoned) after a stop request: SHUTDOWN_TIMEOUT_S
        minus time kept for the final commit and close; `half` is the share for the last submit."""
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + max(1.0, self.shutdown_timeout_s - 5.0)
        if half:
            return self._stop_deadline - max(0.5, (self.shutdown_timeout_s - 5.0) / 2)
        return self._stop_deadline

    def _shutdown(self) -> None:
        started = time.monotonic()
        self.stop.set("shutdown")  # also when the loop ended by an exception: bounds every wait below
        log.info("sink stopping: writing the in-flight batch and committing offsets")
        if self.carry:
            self._submit(self._prepare(self.carry))
            self.carry = []
        self.committer.stop(timeout=max(0.5, self._shutdown_deadline() - time.monotonic()))
        self._store_completed()
        self._commit_sync(self.consumer)
        self.consumer.close()  # leaves the group; the cooperative revoke commits again
        self.dlq.close(timeout_s=2.0)
        log.info("sink stopped", extra={"seconds": round(time.monotonic() - started, 3)})
