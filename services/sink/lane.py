"""A writer process ("lane") of the sink: decode, write and commit the batches it is handed, in order.

Started by committer.py as `python -m services.sink.lane INDEX PARENT_PID INBOX_FD OUTBOX_FD`; the first
thing on the inbox is its settings, then batches. Per batch:
  1. decode each message against the contract (failures become dead letters);
  2. in ONE transaction: write the rows (writer.py: one COPY, or staging + ON CONFLICT for
     replays), dead-letter the rows PostgreSQL refuses, publish and await every dead letter, COMMIT;
  3. report the batch Done. Only then does the consumer (service.py) store its offsets.
Step 1 of the next batch runs in a second thread while this one is written (writing mostly waits on
PostgreSQL); batches are still written, committed and reported strictly in the order they came.
Transient database failures are retried with backoff on the same batch and reported as Events, so
the consumer pauses meanwhile; an Abandon from the parent (shutdown deadline) ends the retries and
the batch is reported Abandoned (redelivered to the next owner).

A lane dies with its parent (PR_SET_PDEATHSIG): after `kill -9` of the sink no orphan keeps writing;
its open transaction is rolled back and the uncommitted tail is redelivered.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import random
import signal
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import psycopg

from services.config import KafkaSettings, PostgresSettings
from services.contract import Stream
from services.contract.envelope import ContractError, decode
from services.sink.committer import Abandon, Abandoned, Batch, Chunk, Done, Event, LaneSettings, Ready
from services.sink.dlq import DeadLetter, DeadLetterPublisher
from services.sink.rows import TABLES, Coordinates, TableSpec
from services.sink.schema import migrate
from services.sink.settings import SinkSettings
from services.sink.writer import RawWriter

log = logging.getLogger("services.sink.lane")  # also when run as __main__

TRANSIENT_DB = (psycopg.OperationalError, psycopg.InterfaceError)
Written = tuple[dict[str, int], dict[str, int], list[str], list[DeadLetter]]
"""Rows inserted and duplicates skipped per table, tables that took the staging path, dead letters."""


def dead_letter(chunk: Chunk, i: int, error_class: str, reason: str) -> DeadLetter:
    """The dead letter of message i of a chunk: its exact key and bytes, and why."""
    return DeadLetter(
        chunk.topic,
        chunk.partition,
        chunk.offsets[i],
        chunk.timestamps[i],
        chunk.keys[i],
        chunk.values[i],
        error_class,
        reason,
    )


@dataclass
class _Prepared:
    size: int
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    origins: dict[str, list[tuple[Chunk, int]]] = field(default_factory=lambda: defaultdict(list))
    """Per table, the (chunk, index) each row came from."""
    letters: list[DeadLetter] = field(default_factory=list)


_Decoded = tuple[Batch, _Prepared] | BaseException | None
"""What the decoding thread hands the writing thread: a decoded batch, the exception that ended
decoding, or None at the end."""


class Lane:
    """One writer: decodes and writes the batches it is given, in the order given."""

    def __init__(
        self,
        index: int,
        kafka: KafkaSettings,
        pg: PostgresSettings,
        cfg: SinkSettings,
        outbox: Connection,
        abandon: threading.Event,
    ) -> None:
        self.index, self.pg, self.cfg = index, pg, cfg
        self.outbox, self.abandon = outbox, abandon
        ns = kafka.topic_namespace
        self.streams: dict[str, Stream] = {spec.stream.topic(ns): spec.stream for spec in TABLES.values()}
        self.specs: dict[str, TableSpec] = {spec.table: spec for spec in TABLES.values()}
        self.dlq = DeadLetterPublisher(kafka)
        self.conn: psycopg.Connection[Any] | None = None
        self.writer: RawWriter | None = None
        self.down = False

    def run(self, batches: queue.Queue[Batch | None]) -> None:
        if not self._connect_with_retry():
            return
        self.outbox.send(Ready(self.index))
        # Decoding is CPU work and writing mostly waits on PostgreSQL (the COPY, the commit's
        # fsync): a second thread decodes the next batch meanwhile. Batches are still written
        # and reported strictly in the order they came.
        prepared: queue.Queue[_Decoded] = queue.Queue(maxsize=1)
        threading.Thread(
            target=self._prepare_all, args=(batches, prepared), name="lane-decode", daemon=True
        ).start()
        while (item := prepared.get()) is not None:
            if isinstance(item, BaseException):  # a bug, not bad input: die, and the sink with us
                raise item
            batch, ready = item
            started = time.perf_counter()  # the write only: COPY (or staging), dead letters, commit
            done = self._write_with_retry(ready)
            if done is None:
                self.outbox.send(Abandoned(batch.batch_id))
                continue
            inserted, duplicates, staged, letters = done
            self.outbox.send(
                Done(
                    batch.batch_id,
                    ready.size,
                    time.perf_counter() - started,
                    inserted,
                    duplicates,
                    staged,
                    [(letter.topic, letter.error_class) for letter in letters],
                )
            )
        self.dlq.close(timeout_s=2.0)
        self._disconnect()

    def _prepare_all(self, batches: queue.Queue[Batch | None], prepared: queue.Queue[_Decoded]) -> None:
        try:
            while (batch := batches.get()) is not None:
                prepared.put((batch, self._prepare(batch.chunks)))
        except BaseException as exc:  # handed to the writing thread, which raises it
            prepared.put(exc)
            return
        prepared.put(None)

    def _prepare(self, chunks: list[Chunk]) -> _Prepared:
        prepared = _Prepared(size=sum(len(chunk) for chunk in chunks))
        now = datetime.now(UTC)
        max_bytes = self.cfg.max_message_bytes
        for chunk in chunks:
            stream = self.streams[chunk.topic]
            spec = TABLES[stream.name]
            rows, origins = prepared.rows[spec.table], prepared.origins[spec.table]
            for i, (offset, key, value) in enumerate(
                zip(chunk.offsets, chunk.keys, chunk.values, strict=True)
            ):
                try:
                    env = decode(stream, value, key, now=now, max_bytes=max_bytes)
                except ContractError as exc:
                    prepared.letters.append(dead_letter(chunk, i, exc.error_class, exc.reason))
                    continue
                rows.append(spec.row(env, Coordinates(chunk.topic, chunk.partition, offset)))
                origins.append((chunk, i))
        return prepared

    def _write_with_retry(self, batch: _Prepared) -> Written | None:
        delay = self.cfg.retry_initial_s
        while not self.abandon.is_set():
            try:
                if self.conn is None:
                    self._connect()
                result = self._write(batch)
                if self.down:
                    log.info("database available again; resuming", extra={"lane": self.index})
                    self.down = False
                    self.outbox.send(Event(self.index, "recovered"))
                return result
            except TRANSIENT_DB as exc:
                self.outbox.send(Event(self.index, "db_error", type(exc).__name__))
                log.warning(
                    "database unavailable; pausing", extra={"error": str(exc)[:300], "lane": self.index}
                )
                self._disconnect()
            except RuntimeError as exc:  # dead-letter delivery failed: the transaction rolled back
                self.outbox.send(Event(self.index, "dlq_error"))
                log.warning("dead-letter publish failed; retrying batch", extra={"error": str(exc)})
            self.down = True
            self.abandon.wait(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.cfg.retry_max_s)
        log.warning("abandoning unwritten batch; it will be redelivered", extra={"messages": batch.size})
        return None

    def _write(self, batch: _Prepared) -> Written:
        assert self.conn is not None
        assert self.writer is not None
        letters = list(batch.letters)
        inserted: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        staged: list[str] = []
        with self.conn.transaction():
            for table, rows in batch.rows.items():
                result = self.writer.write(self.specs[table], rows)
                inserted[table], duplicates[table] = result.inserted, result.duplicates
                if result.staged:
                    staged.append(table)
                for index, reason in result.rejected:
                    chunk, i = batch.origins[table][index]
                    letters.append(dead_letter(chunk, i, "db_rejected", reason))
            self.dlq.publish(letters, timeout_s=10.0)
        for letter in letters:
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
        return inserted, duplicates, staged, letters

    def _connect(self) -> None:
        conn: psycopg.Connection[Any] = psycopg.connect(
            self.pg.conninfo(),
            autocommit=True,
            connect_timeout=5,
            # A hung statement or a silently vanished server becomes an OperationalError (retried)
            # instead of a lane blocked forever while the consumer waits on it.
            options=f"-c statement_timeout={self.cfg.statement_timeout_ms}",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            application_name=f"datastack-sink-{self.index}",
        )
        try:
            migrate(conn)  # serialised by an advisory lock: the lanes and other replicas wait their turn
            writer = RawWriter(conn)
            writer.prepare(list(self.specs.values()))
        except BaseException:
            conn.close()
            raise
        self.conn, self.writer = conn, writer
        log.info(
            "connected to PostgreSQL", extra={"host": self.pg.host, "db": self.pg.db, "lane": self.index}
        )

    def _disconnect(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn, self.writer = None, None

    def _connect_with_retry(self) -> bool:
        """Start-up: wait for PostgreSQL (and migrate). False when told to give up."""
        delay = self.cfg.retry_initial_s
        while not self.abandon.is_set():
            try:
                self._connect()
                return True
            except TRANSIENT_DB as exc:
                self.outbox.send(Event(self.index, "db_error", type(exc).__name__))
                log.warning("database unavailable at start-up", extra={"error": str(exc)[:300]})
            self.abandon.wait(delay)
            delay = min(delay * 2, self.cfg.retry_max_s)
        return False


def _receive(inbox: Connection, batches: queue.Queue[Batch | None], abandon: threading.Event) -> None:
    """Read the inbox as it comes (the parent sends the next batch while this one is written, and
    must not block on a full pipe). EOF means the parent is gone: end the lane."""
    while True:
        try:
            item = inbox.recv()
        except (EOFError, OSError):
            item = None
        if isinstance(item, Abandon):
            abandon.set()
            continue
        batches.put(item)
        if item is None:
            return


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the parent dies (the sink was kill -9'd or crashed)."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def main(argv: list[str]) -> None:
    index, parent, inbox_fd, outbox_fd = (int(arg) for arg in argv)
    _die_with_parent(parent)
    # Stopping is the parent's decision (it finishes or abandons in-flight batches first): a
    # SIGTERM/SIGINT sent to the whole process group must not cut a batch short here.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox, outbox = Connection(inbox_fd, writable=False), Connection(outbox_fd, readable=False)
    settings = inbox.recv()
    assert isinstance(settings, LaneSettings)
    _configure_logging(settings)
    abandon = threading.Event()
    batches: queue.Queue[Batch | None] = queue.Queue()
    threading.Thread(target=_receive, args=(inbox, batches, abandon), name="lane-inbox", daemon=True).start()
    Lane(index, settings.kafka, settings.pg, settings.sink, outbox, abandon).run(batches)


def _configure_logging(settings: LaneSettings) -> None:
    from services.runtime import configure_logging

    configure_logging(settings.log_level, settings.log_format, service="sink")


if __name__ == "__main__":
    main(sys.argv[1:])
