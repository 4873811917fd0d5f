"""The writer side of the sink, seen from the consumer: writer processes ("lanes", lane.py), each with
its own PostgreSQL connection and transaction, and the messages exchanged with them.

Why processes: validating a message against the contract and building its row is Python work
(pydantic), and within one process it all shares one GIL: the sink topped out near one core while
the second one waited. Each lane decodes, writes and commits whole batches (lane.py); the consumer
(service.py) decides which partition's messages go to which lane, and stores a batch's offsets only
after its lane reports it committed.

A lane holds at most LANE_DEPTH batches: the one being written, the next one being decoded, and one
on its way (possibly all of the same partition), so it never waits for the consumer between batches.

Wire protocol, one pipe pair per lane (pickled, multiprocessing.connection framing):
  parent -> lane: LaneSettings (first), then Batch | Abandon | None (finish what is queued, exit)
  lane -> parent: Ready | Done | Abandoned | Event
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from services.config import ConfigError, KafkaSettings, PostgresSettings, ServiceSettings, load
from services.sink import metrics as m
from services.sink.settings import SinkSettings

log = logging.getLogger(__name__)

LANE_DEPTH = 3
"""Batches a lane holds at most: one being written, one being decoded, one on its way. With two,
the decoding thread idled while the next batch crossed the pipe (measured: 37.5k msg/s against 39.8k)."""
PIPE_BYTES = 1 << 20
"""Pipe buffer towards a lane (the Linux maximum by default): a batch crosses in a few writes."""
STOP_GRACE_S = 2.0
"""At shutdown, how long an abandoned lane may take to stop before it is killed."""


# -- wire messages -------------------------------------------------------------------------------
@dataclass
class Chunk:
    """Consecutive messages of one partition, column-wise: cheap to append to and to pickle."""

    topic: str
    partition: int
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    """Kafka timestamps (ms), for the dead-letter headers."""
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)

    def split(self, n: int) -> tuple[Chunk, Chunk]:
        """The first n messages and the rest."""
        head = Chunk(
            self.topic, self.partition, self.offsets[:n], self.timestamps[:n], self.keys[:n], self.values[:n]
        )
        tail = Chunk(
            self.topic, self.partition, self.offsets[n:], self.timestamps[n:], self.keys[n:], self.values[n:]
        )
        return head, tail


@dataclass(frozen=True)
class LaneSettings:
    kafka: KafkaSettings
    pg: PostgresSettings
    sink: SinkSettings
    log_level: str
    log_format: str


@dataclass(frozen=True)
class Batch:
    batch_id: int
    chunks: list[Chunk]


@dataclass(frozen=True)
class Abandon:
    """Shutdown deadline passed: stop retrying; unwritten batches are reported Abandoned."""


@dataclass(frozen=True)
class Ready:
    lane: int


@dataclass(frozen=True)
class Done:
    batch_id: int
    size: int
    write_s: float
    inserted: dict[str, int]
    duplicates: dict[str, int]
    staged: list[str]
    """Tables whose rows took the staging path (duplicates or refused rows)."""
    dead_letters: list[tuple[str, str]]
    """(original topic, error class) per dead letter."""


@dataclass(frozen=True)
class Abandoned:
    batch_id: int


@dataclass(frozen=True)
class Event:
    lane: int
    kind: str
    """db_error (label: exception type), dlq_error, or recovered."""
    label: str = ""


# -- the parent's handle on its lanes --------------------------------------------------------------
@dataclass
class InFlight:
    lane: int
    size: int
    offsets: dict[tuple[str, int], int]
    """Next offset to consume per (topic, partition): stored once the batch is committed."""

    @classmethod
    def of(cls, lane: int, chunks: list[Chunk]) -> InFlight:
        """A batch of these chunks, handed to this lane."""
        offsets = {(c.topic, c.partition): c.offsets[-1] + 1 for c in chunks}
        return cls(lane, sum(len(c) for c in chunks), offsets)


@dataclass
class _LaneHandle:
    process: subprocess.Popen[bytes]
    inbox: Connection
    outbox: Connection
    ready: bool = False
    dead: bool = False
    outstanding: list[int] = field(default_factory=list)
    """Batch ids sent and not yet reported, oldest first."""


class Committer:
    """Start the lanes, hand them batches, collect what they report."""

    def __init__(self, kafka: KafkaSettings, pg: PostgresSettings, cfg: SinkSettings) -> None:
        self.cfg = cfg
        self._settings = LaneSettings(kafka, pg, cfg, *_log_settings())
        self._lanes: list[_LaneHandle] = []
        self._next_id = 0
        self.in_flight: dict[int, InFlight] = {}
        self._down: set[int] = set()
        self._poller = select.poll()
        self._by_fd: dict[int, int] = {}
        self._stopping = False
        self.lost: str | None = None
        """Set when a lane died: the sink cannot go on without it (its batches are lost, not committed)."""

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    @property
    def db_down(self) -> bool:
        return bool(self._down)

    def start(self) -> None:
        for index in range(self.cfg.writers):
            inbox_r, inbox_w = os.pipe()
            outbox_r, outbox_w = os.pipe()
            with contextlib.suppress(OSError):  # Linux: fewer, larger writes per batch (best effort)
                fcntl.fcntl(inbox_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            # A plain child process (no multiprocessing: no fork of a process with librdkafka
            # threads, no resource tracker, no re-import of the parent's entry script).
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "services.sink.lane",
                    *map(str, (index, os.getpid(), inbox_r, outbox_w)),
                ],
                pass_fds=(inbox_r, outbox_w),
            )
            os.close(inbox_r)  # the child's ends: closing ours lets EOF reach the other side
            os.close(outbox_w)
            handle = _LaneHandle(
                process, Connection(inbox_w, readable=False), Connection(outbox_r, writable=False)
            )
            handle.inbox.send(self._settings)
            self._lanes.append(handle)
            self._poller.register(outbox_r, select.POLLIN)
            self._by_fd[outbox_r] = index

    @property
    def ready(self) -> bool:
        """Every lane has connected to PostgreSQL (and migrated) once."""
        return all(lane.ready for lane in self._lanes)

    def room(self, lane: int) -> int:
        handle = self._lanes[lane]
        return 0 if handle.dead else LANE_DEPTH - len(handle.outstanding)

    def in_flight_on(self, lane: int) -> int:
        """Batches the lane holds (sent, not yet reported)."""
        return len(self._lanes[lane].outstanding)

    def submit(self, lane: int, chunks: list[Chunk]) -> None:
        """Hand a batch to a lane with room; its offsets are stored once the lane reports it done."""
        self._next_id += 1
        handle = self._lanes[lane]
        handle.inbox.send(Batch(self._next_id, chunks))
        handle.outstanding.append(self._next_id)
        self.in_flight[self._next_id] = InFlight.of(lane, chunks)
        m.IN_FLIGHT.set(len(self.in_flight))

    def poll(self, timeout: float) -> list[tuple[InFlight, bool]]:
        """Read what the lanes reported within `timeout`: (batch, committed?) per finished batch,
        in each lane's order. A lane that died reports its batches as not committed, and `lost`
        says so."""
        finished: list[tuple[InFlight, bool]] = []
        # One select.poll registered once: Connection.poll() builds a selector per call, which the
        # consumer loop would pay for on every round.
        ready = self._poller.poll(timeout * 1000)
        while ready:
            for fd, _event in ready:  # EOF (a lane died) polls as readable: recv() then raises
                index = self._by_fd[fd]
                try:
                    item = self._lanes[index].outbox.recv()
                except EOFError:
                    finished += self._died(index)
                    continue
                done = self._handle(index, item)
                if done is not None:
                    finished.append(done)
            ready = self._poller.poll(0)
        if finished:
            m.IN_FLIGHT.set(len(self.in_flight))
        return finished

    def _handle(self, index: int, item: object) -> tuple[InFlight, bool] | None:
        lane = self._lanes[index]
        if isinstance(item, Ready):
            # Connected (and migrated): start-up connection failures it reported are over.
            lane.ready = True
            self._down.discard(index)
        elif isinstance(item, Event):
            if item.kind == "db_error":
                m.DB_ERRORS.labels(item.label).inc()
                self._down.add(index)
            elif item.kind == "dlq_error":
                m.KAFKA_ERRORS.labels("dlq").inc()
                self._down.add(index)
            else:
                self._down.discard(index)
        elif isinstance(item, Done | Abandoned):
            oldest = lane.outstanding.pop(0)
            assert oldest == item.batch_id, "a lane reports its batches in the order it got them"
            batch = self.in_flight.pop(item.batch_id)
            if isinstance(item, Abandoned):
                return batch, False
            self._account(item)
            return batch, True
        return None

    @staticmethod
    def _account(done: Done) -> None:
        m.WRITE_LATENCY.observe(done.write_s)
        m.BATCH_SIZE.observe(done.size)
        for table, n in done.inserted.items():
            m.ROWS_WRITTEN.labels(table).inc(n)
        for table, n in done.duplicates.items():
            m.DUPLICATES.labels(table).inc(n)
        for table in done.staged:
            m.STAGED_BATCHES.labels(table).inc()
        for (topic, error_class), n in Counter(done.dead_letters).items():
            m.DEAD_LETTERED.labels(topic, error_class).inc(n)
        m.LAST_COMMIT.set_to_current_time()

    def _died(self, index: int) -> list[tuple[InFlight, bool]]:
        lane = self._lanes[index]
        with contextlib.suppress(subprocess.TimeoutExpired):
            lane.process.wait(timeout=1)
        self._poller.unregister(lane.outbox.fileno())
        lane.dead = True
        if self._stopping and not lane.outstanding and lane.process.returncode == 0:
            return []  # it finished its batches and exited, as told
        self.lost = f"sink writer process {index} exited unexpectedly (exit code {lane.process.returncode})"
        log.error(self.lost, extra={"batches_lost": len(lane.outstanding)})
        lost = [(self.in_flight.pop(batch_id), False) for batch_id in lane.outstanding]
        lane.outstanding.clear()
        return lost

    def stop(self, deadline: float) -> list[tuple[InFlight, bool]]:
        """Let the lanes finish what they hold until `deadline` (monotonic), then abandon the rest
        (lanes stop retrying; a lane stuck in a statement gets STOP_GRACE_S more, then is killed).
        Returns the batches finished meanwhile."""
        finished: list[tuple[InFlight, bool]] = []
        self._stopping = True
        self._send_all(None)
        while self.in_flight and time.monotonic() < deadline:
            finished += self.poll(min(0.1, max(0.0, deadline - time.monotonic())))
        self._send_all(Abandon())
        grace = time.monotonic() + STOP_GRACE_S
        while self.in_flight and time.monotonic() < grace:
            finished += self.poll(0.05)
        for lane in self._lanes:
            try:
                lane.process.wait(timeout=max(0.1, STOP_GRACE_S - 1))
            except subprocess.TimeoutExpired:
                lane.process.kill()
                lane.process.wait(timeout=2)
            if not lane.dead:
                self._poller.unregister(lane.outbox.fileno())
            lane.inbox.close()
            lane.outbox.close()
        # Whatever was not reported is lost with its lane: not committed, so redelivered.
        finished += [(batch, False) for batch in self.in_flight.values()]
        self.in_flight.clear()
        self._lanes.clear()
        return finished

    def _send_all(self, item: object) -> None:
        for lane in self._lanes:
            if not lane.dead:
                with contextlib.suppress(OSError):  # it may just have exited after its last batch
                    lane.inbox.send(item)


def _log_settings() -> tuple[str, str]:
    """The lanes log like the parent (the same environment, validated by the parent at start-up)."""
    try:
        svc = load(ServiceSettings)
    except ConfigError:
        return "INFO", "json"
    return svc.log_level, svc.log_format
