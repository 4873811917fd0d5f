"""The writer side of the sink: a thread that writes prepared batches to PostgreSQL, in order.

Decoding (Python, on the consumer thread) and writing (mostly PostgreSQL's work, in another
process) overlap: while batch N is being COPY'd and committed here, the consumer thread decodes
batch N+1. The hand-off queue holds one batch; with the one being written, the one the consumer
thread is handing over and its carry-over (see service.py), at most four batches are in memory.

A batch is written in ONE transaction: COPY + INSERT ... ON CONFLICT DO NOTHING per table (rows the
database refuses become dead letters), the dead letters are published and acknowledged, COMMIT.
Only then is the batch reported `done`, and only then does the consumer thread store its offsets.
Transient database failures are retried with backoff on the same batch; `db_down` tells the
consumer thread to pause consumption meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from confluent_kafka import Message

from services.config import PostgresSettings
from services.sink import metrics as m
from services.sink.dlq import DeadLetter, DeadLetterPublisher
from services.sink.rows import TableSpec
from services.sink.schema import migrate
from services.sink.settings import SinkSettings
from services.sink.writer import RawWriter

log = logging.getLogger(__name__)

TRANSIENT_DB = (psycopg.OperationalError, psycopg.InterfaceError)


class Waitable(Protocol):
    def wait(self, timeout: float) -> bool: ...


@dataclass
class PreparedBatch:
    size: int = 0
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    origins: dict[str, list[Message]] = field(default_factory=lambda: defaultdict(list))
    letters: list[DeadLetter] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Next offset to consume per (topic, partition): stored once the batch is committed."""


class Committer:
    def __init__(
        self,
        pg: PostgresSettings,
        cfg: SinkSettings,
        specs: dict[str, TableSpec],
        dlq: DeadLetterPublisher,
        letter_for: Any,
    ) -> None:
        self.pg, self.cfg, self.specs, self.dlq = pg, cfg, specs, dlq
        self._letter_for = letter_for
        self.conn: psycopg.Connection[Any] | None = None
        self.writer: RawWriter | None = None
        self.inbox: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=1)
        self.done: queue.Queue[PreparedBatch] = queue.Queue()
        self.db_down = threading.Event()
        self.abandon = threading.Event()
        """Set at shutdown when the deadline passed: stop retrying, the batch will be redelivered."""
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="sink-committer", daemon=True)

    # -- consumer-thread API ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: PreparedBatch, timeout: float) -> bool:
        """Hand a batch over; False when the writer is still busy after `timeout` seconds."""
        try:
            self._idle.clear()
            self.inbox.put(batch, timeout=timeout)
            return True
        except queue.Full:
            return False

    def drain(self, timeout: float) -> bool:
        """Wait until every submitted batch is written (or abandoned). True when idle in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.inbox.empty() and self._idle.wait(0.05) and self.inbox.empty():
                return True
        return False

    def stop(self, timeout: float) -> None:
        """Finish what was submitted within `timeout`, then stop the thread."""
        if not self.drain(timeout):
            self.abandon.set()
        with contextlib.suppress(queue.Full):
            self.inbox.put(None, timeout=1)
        self._thread.join(timeout=5)
        self._disconnect()

    # -- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self.inbox.get()
            if batch is None:
                self._idle.set()
                return
            try:
                if self._write_with_retry(batch):
                    self.done.put(batch)
            finally:
                if self.inbox.empty():
                    self._idle.set()

    def _write_with_retry(self, batch: PreparedBatch) -> bool:
        delay = self.cfg.retry_initial_s
        while not self.abandon.is_set():
            try:
                if self.conn is None:
                    self._connect()
                started = time.perf_counter()
                self._write(batch)
                m.WRITE_LATENCY.observe(time.perf_counter() - started)
                m.BATCH_SIZE.observe(batch.size)
                if self.db_down.is_set():
                    log.info("database available again; resuming")
                    self.db_down.clear()
                return True
            except TRANSIENT_DB as exc:
                m.DB_ERRORS.labels(type(exc).__name__).inc()
                log.warning("database unavailable; pausing", extra={"error": str(exc)[:300]})
                self._disconnect()
            except RuntimeError as exc:  # dead-letter delivery failed: the transaction rolled back
                m.KAFKA_ERRORS.labels("dlq").inc()
                log.warning("dead-letter publish failed; retrying batch", extra={"error": str(exc)})
            self.db_down.set()
            self.abandon.wait(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.cfg.retry_max_s)
        log.warning("abandoning unwritten batch; it will be redelivered", extra={"messages": batch.size})
        return False

    def _write(self, batch: PreparedBatch) -> None:
        assert self.conn is not None
        assert self.writer is not None
        letters = list(batch.letters)
        results = {}
        with self.conn.transaction():
            for table, rows in batch.rows.items():
                result = self.writer.write(self.specs[table], rows)
                results[table] = result
                for index, reason in result.rejected:
                    letters.append(self._letter_for(batch.origins[table][index], "db_rejected", reason))
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

    # -- connection ------------------------------------------------------------------------------
    def _connect(self) -> None:
        conn: psycopg.Connection[Any] = psycopg.connect(
            self.pg.conninfo(),
            autocommit=True,
            connect_timeout=5,
            # A hung statement or a silently vanished server becomes an OperationalError (retried)
            # instead of a thread blocked forever while the consumer thread waits on it.
            options=f"-c statement_timeout={self.cfg.statement_timeout_ms}",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
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

    def connect_with_retry(self, stop: Waitable) -> None:
        """Start-up: wait for PostgreSQL (and migrate) before consuming anything."""
        delay = self.cfg.retry_initial_s
        while True:
            try:
                self._connect()
                return
            except TRANSIENT_DB as exc:
                m.DB_ERRORS.labels(type(exc).__name__).inc()
                log.warning("database unavailable at start-up", extra={"error": str(exc)[:300]})
            if stop.wait(delay):
                raise SystemExit(0)
            delay = min(delay * 2, self.cfg.retry_max_s)
