"""The sink's consumer side: consume -> hand each partition's messages to a writer -> store offsets.

Delivery: at-least-once consumption plus idempotent writes, so every valid message becomes exactly
one row. This process owns the Kafka consumer; writer processes ("lanes": lane.py, driven through
committer.py) own PostgreSQL, each with its own connection and transaction. Per batch:
  1. messages are buffered per partition; up to SINK_BATCH_MAX_MESSAGES of them, or whatever waited
     SINK_BATCH_MAX_WAIT_MS, become a batch for a lane with room;
  2. the lane decodes them against the contract and writes the rows and the dead letters in one
     transaction (lane.py);
  3. only after that commit are the batch's offsets stored (enable.auto.offset.store=false);
     librdkafka's auto-commit sends them within a second, and revocation/shutdown commit
     synchronously.
A crash anywhere before 3 replays the batch, and the unique natural key absorbs the replay. A
writer process that dies takes its uncommitted batches with it: no later offset of their partitions
is stored, and the sink exits non-zero at once so its supervisor restarts it (and redelivers).

Several batches are in flight at once (SINK_WRITERS lanes, three batches each), and a partition may
have more than one of them, but all on ONE lane: a partition is pinned to the lane that holds its
batches until the last of them is committed (then any lane may take it). A lane writes and commits
its batches one after the other, in the order it got them, so for every partition:
  - batches commit in Kafka order, and an offset is stored only once the rows of every earlier
    offset of that partition are committed;
  - `ingest_seq`, an identity handed out as rows are inserted, increases with the Kafka offset:
    batch k+1 starts inserting after batch k committed, and within a batch rows go in offset
    order (writer.py). Rows of different partitions interleave freely; nothing relies on that.
While the lane writes batch k, it decodes batch k+1 and batch k+2 is on its way, possibly all of
the same partition, so a partition with a backlog never waits for the consumer between batches.
A lane that has nothing to do while another lane holds several partitions with waiting messages
takes one of them over: the busy lane gets no new batch of it, and once its last one there is
committed, the partition is free again.
The lake syncer's fence (services/lake/fence.py) does not depend on how many writers there are:
it relies on every transaction that draws `ingest_seq` values holding RowExclusiveLock on the raw
table from before its first value until it ends, which the COPY and the INSERT of every lane do,
each in its own transaction. Concurrent lanes only mean more such transactions, each one short (a
batch), so fences keep settling. A COPY that fails inside its savepoint releases the lock together
with its rows, whose values are rolled back for good: exactly what the fence may skip.

Memory stays flat under any backlog: a lane holds at most two batches, and a partition whose
messages wait (its previous batch in flight, or PostgreSQL down) is paused once a batch's worth
waits (one consume() call may add less than another batch's worth first). The consumer keeps
polling while paused, so it stays in the group.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS
from services.runtime import Health, StopFlag
from services.sink import metrics as m
from services.sink.committer import Chunk, Committer, InFlight
from services.sink.settings import SinkSettings

log = logging.getLogger(__name__)

REVOKE_DRAIN_S = 10.0
"""On revocation, how long to wait for the revoked partitions' in-flight batches to commit."""
BUSY_POLL_S = 0.02
"""Longest consume() wait while batches are in flight: how soon a finished lane gets its next batch."""

FETCH_QUEUE_BACKOFF_MS = 10
"""How soon librdkafka fetches again for a partition whose prefetch queue was full."""

TP = tuple[str, int]


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
        self.topics = [s.topic(kafka.topic_namespace) for s in STREAMS.values()]
        self.committer = Committer(kafka, pg, cfg)
        self.assigned: set[TP] = set()
        self.paused_parts: set[TP] = set()
        self.pending: dict[TP, Chunk] = {}
        """Consumed messages per partition not yet handed to a lane, in offset order."""
        self.pending_since: dict[TP, float] = {}
        """When the oldest pending message of each partition was consumed (monotonic)."""
        self.pinned: dict[TP, int] = {}
        """The lane holding each partition's in-flight batches: its next batch goes there too."""
        self.in_flight_batches: Counter[TP] = Counter()
        """In-flight batches per partition (the partition is unpinned when none is left)."""
        self.moving: set[TP] = set()
        """Pinned partitions that an idle lane takes over: their lane gets no new batch of theirs."""
        self.stalled: set[TP] = set()
        """Partitions whose batch was not committed (its writer died, or shutdown abandoned it): no
        later batch of theirs may be written or stored, or the offsets would skip its messages.
        They wait, paused, for the restart or the rebalance that redelivers from the last commit."""
        self.stored: dict[TP, int] = {}
        """Highest offset stored per partition since it was assigned (stores never go back)."""
        self._subscribed = False
        self._paused_metric = 0
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
            # Once the prefetch queue is full, librdkafka re-checks a partition this often (default
            # 1 s): with the default, a partition whose batch just left waited up to a second for
            # its next messages while its writer idled (measured: 85k msg/s of raw consumption
            # instead of 850k with this bound, a third of the sink's throughput lost).
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
            "statistics.interval.ms": self.cfg.statistics_interval_ms,
            "stats_cb": self._on_stats,
            "error_cb": self._on_error,
        }

    # -- main loop -------------------------------------------------------------------------------
    def run(self) -> None:
        # The lanes connect to PostgreSQL (and migrate) while the consumer joins the group; until
        # they are ready every assigned partition stays paused, so nothing piles up meanwhile.
        self.committer.start()
        try:
            self.consumer.subscribe(
                self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
            )
            self._subscribed = True
            log.info(
                "sink started",
                extra={"topics": self.topics, "group": self.cfg.group_id, "writers": self.committer.lanes},
            )
            while not self.stop.is_set():
                self._finish(self.committer.poll(0))
                if self.committer.lost:  # exit non-zero: the supervisor restarts the whole sink
                    raise RuntimeError(self.committer.lost)
                self._consume()
                if self.committer.ready:
                    self._dispatch()
                self._apply_pauses()
                self.health.tick()
                self.health.set_ready(
                    self.committer.ready and not self.committer.db_down, assigned=len(self.assigned)
                )
        finally:
            self._shutdown()

    def _consume(self) -> None:
        if self.pending or self.committer.in_flight:
            msgs = self.consumer.consume(self.cfg.batch_max_messages, self._consume_timeout())
        else:
            # Idle: consume(n, t) blocks until n messages or t. Ask for one, so the batch window
            # starts at the first message instead of after an idle timeout.
            msgs = self.consumer.consume(1, 0.5 if self.committer.ready else BUSY_POLL_S)
        now = time.monotonic()
        counts: Counter[str] = Counter()
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self._on_error(err)
                continue
            topic, partition = msg.topic(), msg.partition()
            assert topic is not None
            assert partition is not None
            if (topic, partition) in self.stalled:
                continue  # fetched before the pause took effect; redelivered with the rest
            chunk = self.pending.get((topic, partition))
            if chunk is None:
                chunk = self.pending[topic, partition] = Chunk(topic, partition)
                self.pending_since[topic, partition] = now
            chunk.offsets.append(msg.offset())  # type: ignore[arg-type]
            chunk.timestamps.append(msg.timestamp()[1])
            chunk.keys.append(msg.key())
            chunk.values.append(msg.value())
            counts[topic] += 1
        for topic, n in counts.items():
            m.CONSUMED.labels(topic).inc(n)

    def _consume_timeout(self) -> float:
        """Block in consume() until the next batch could leave: no longer than the batch window of
        the oldest message a lane could take now, and only briefly while lanes are working (their
        reports are read between consume() calls)."""
        timeout = BUSY_POLL_S if self.committer.in_flight or not self.committer.ready else 0.5
        open_lanes = {lane for lane in range(self.committer.lanes) if self.committer.room(lane) > 0}
        if open_lanes:
            waiting = [
                since
                for tp, since in self.pending_since.items()
                if any(self._eligible(tp, lane) for lane in open_lanes)
            ]
            if waiting:
                due = min(waiting) + self.cfg.batch_max_wait_ms / 1000
                timeout = min(timeout, max(0.0, due - time.monotonic()))
        return timeout

    def _eligible(self, tp: TP, lane: int) -> bool:
        """May this lane take the partition's next batch? Only the lane it is pinned to (the order
        of its batches), unless that lane is giving it up; never a stalled partition."""
        if tp in self.stalled:
            return False
        owner = self.pinned.get(tp)
        return owner is None or (owner == lane and tp not in self.moving)

    def _dispatch(self, final: bool = False) -> None:
        """Hand waiting messages to lanes with room, one batch at a time to the lane with the most
        room: up to SINK_BATCH_MAX_MESSAGES per batch, each partition to the lane it is pinned to
        (if any). Partitions with nothing in flight go first, then the oldest messages: a partition
        with a backlog does not hold up the others. A batch leaves when it is full or its oldest
        message has waited SINK_BATCH_MAX_WAIT_MS (`final`: at once)."""
        limit = self.cfg.batch_max_messages
        window = self.cfg.batch_max_wait_ms / 1000
        while chosen := self._next_batch(limit, window, final):
            lane, ready = chosen
            chunks: list[Chunk] = []
            room = limit
            for tp in ready:
                if room <= 0:
                    break
                chunk = self.pending[tp]
                if len(chunk) > room:
                    chunk, self.pending[tp] = chunk.split(room)  # its since stays: still its oldest
                else:
                    del self.pending[tp], self.pending_since[tp]
                chunks.append(chunk)
                room -= len(chunk)
                self.pinned[tp] = lane
                self.in_flight_batches[tp] += 1
            self.committer.submit(lane, chunks)
            m.PARTITIONS_IN_FLIGHT.set(len(self.pinned))

    def _next_batch(self, limit: int, window: float, final: bool) -> tuple[int, list[TP]] | None:
        """The lane for the next batch and its candidate partitions in order, or None."""
        now = time.monotonic()
        lanes = [lane for lane in range(self.committer.lanes) if self.committer.room(lane) > 0]
        for lane in sorted(lanes, key=self.committer.room, reverse=True):
            ready = [tp for tp in self.pending if self._eligible(tp, lane)]
            if not ready:
                self._take_over(lane)
                continue
            ready.sort(key=lambda tp: (tp in self.pinned, self.pending_since[tp]))
            waiting = sum(len(self.pending[tp]) for tp in ready)
            oldest = min(self.pending_since[tp] for tp in ready)
            if final or waiting >= limit or now - oldest >= window:
                return lane, ready
        return None

    def _take_over(self, lane: int) -> None:
        """An idle lane with no partition to take: free one from a lane holding several partitions
        with waiting messages (say, three partitions on two lanes), so both lanes keep working.
        The partition's next batch waits until its batches on the old lane are committed."""
        if self.committer.in_flight_on(lane) or self.moving:
            return
        held = Counter(self.pinned.values())
        candidates = [
            tp for tp in self.pending if tp not in self.stalled and held[self.pinned.get(tp, lane)] > 1
        ]
        if candidates:
            self.moving.add(min(candidates, key=self.pending_since.__getitem__))

    def _apply_pauses(self) -> None:
        """Pause partitions with a full batch waiting (their lane is busy), or all of them while
        PostgreSQL is unavailable or the lanes are still starting; resume the rest. The metric
        reports outages only, not the routine back-pressure of busy lanes."""
        down = self.committer.db_down
        if int(down) != self._paused_metric:
            self._paused_metric = int(down)
            m.PAUSED.set(self._paused_metric)
        full = self.cfg.batch_max_messages
        if down or not self.committer.ready:
            want = set(self.assigned)
        else:
            want = ({tp for tp, c in self.pending.items() if len(c) >= full} | self.stalled) & self.assigned
        if want - self.paused_parts:
            self.consumer.pause([TopicPartition(t, p) for t, p in want - self.paused_parts])
        if self.paused_parts - want:
            self.consumer.resume([TopicPartition(t, p) for t, p in self.paused_parts - want])
        self.paused_parts = want

    def _finish(self, finished: list[tuple[InFlight, bool]]) -> None:
        """Release the partitions of finished batches; store the offsets of committed ones."""
        offsets: dict[TP, int] = {}
        for batch, committed in finished:
            for tp in batch.offsets:
                self.in_flight_batches[tp] -= 1
                if self.in_flight_batches[tp] <= 0:
                    del self.in_flight_batches[tp], self.pinned[tp]
                    self.moving.discard(tp)
            if not committed:
                self.stalled.update(batch.offsets)
                self._drop(set(batch.offsets))
                continue
            for tp, offset in batch.offsets.items():
                if tp in self.assigned and tp not in self.stalled and offset > self.stored.get(tp, -1):
                    offsets[tp] = self.stored[tp] = offset
        if finished:
            m.PARTITIONS_IN_FLIGHT.set(len(self.pinned))
        if offsets:
            try:
                self.consumer.store_offsets(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()]
                )
            except KafkaException as exc:  # revoked meanwhile: its new owner re-reads, rows dedupe
                log.info("could not store offsets", extra={"error": str(exc)})

    # -- group membership ------------------------------------------------------------------------
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned.add((tp.topic, tp.partition))
            self.stored.pop((tp.topic, tp.partition), None)
        log.info("partitions assigned", extra={"partitions": _names(partitions)})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Let the revoked partitions' in-flight batches commit, store their offsets, and make them
        # durable before the new owner starts reading. If PostgreSQL is down this gives up after
        # REVOKE_DRAIN_S: the new owner re-reads the unwritten tail, and the natural key absorbs any
        # overlap. What is only buffered here is dropped: the new owner reads it again.
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._drop(gone)
        log.info(
            "revoking partitions; waiting for their in-flight batches",
            extra={"partitions": _names(partitions), "in_flight_partitions": len(self.pinned.keys() & gone)},
        )
        deadline = time.monotonic() + (0.5 if self.stop.is_set() else REVOKE_DRAIN_S)
        try:
            while self.pinned.keys() & gone and time.monotonic() < deadline:
                self._finish(self.committer.poll(0.05))
        finally:  # also when a lane died: commit what is committed
            self._commit_sync(consumer)
            self.assigned -= gone
            self.paused_parts -= gone
            self.stalled -= gone
            log.info("partitions revoked", extra={"partitions": _names(partitions)})

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._drop(gone)
        self.assigned -= gone
        self.paused_parts -= gone
        self.stalled -= gone
        log.warning("partitions lost", extra={"partitions": _names(partitions)})

    def _drop(self, gone: set[TP]) -> None:
        """Forget what is buffered for these partitions (never written, so never acknowledged)."""
        for tp in gone:
            self.pending.pop(tp, None)
            self.pending_since.pop(tp, None)

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

    def _shutdown(self) -> None:
        """Write what is buffered and in flight until SHUTDOWN_TIMEOUT_S minus the time kept for the
        final commit and close; whatever is not committed by then is redelivered to the next owner."""
        started = time.monotonic()
        self.stop.set("shutdown")  # also when the loop ended by an exception: bounds every wait below
        deadline = started + max(1.0, self.shutdown_timeout_s - 5.0)
        log.info("sink stopping: writing in-flight batches and committing offsets")
        while self.committer.ready and (self.pending or self.committer.in_flight):
            if time.monotonic() >= deadline:
                break
            self._dispatch(final=True)
            self._finish(self.committer.poll(0.05))
        self._finish(self.committer.stop(deadline))
        if self._subscribed:
            self._commit_sync(self.consumer)
        self.consumer.close()  # leaves the group; the cooperative revoke commits again
        log.info("sink stopped", extra={"seconds": round(time.monotonic() - started, 3)})
