"""The produce loop: sources poll in worker threads, the main thread wraps and publishes what they
found, serves Kafka delivery callbacks and the probes, and flushes on the way out.

One worker thread per source (a "lane"): the crypto producer polls five venues in one process, and
a venue sleeping through a long Retry-After, or hanging until its timeout, must not hold the others
back. Workers only poll (HTTP, parsing) and hand each poll's outcome over a small bounded queue;
the Kafka producer, the counters, readiness and the logs of polls stay in the main thread, which
never blocks longer than WAIT_SLICE_S, so SIGTERM is noticed at once and /healthz keeps ticking.
Single-source producers (github, weather, synthetic) are one lane. The runner knows nothing about
HTTP or API shapes (sources do) and nothing about the command line (cli does).

Readiness: the last delivery was acknowledged and at least one lane's last poll gave usable data
(one venue down is a metric and a log line, not an unready producer; all down is).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from confluent_kafka import KafkaError, Message, Producer

from services.config import KafkaSettings
from services.contract import STREAMS, Stream
from services.contract.envelope import DEFAULT_MAX_MESSAGE_BYTES, encode, wrap
from services.producers.http import FetchError, PayloadError
from services.producers.metrics import ProducerMetrics
from services.producers.sources.base import PollResult, Rejection, Source
from services.runtime import Health, StopFlag

log = logging.getLogger(__name__)

DeliveryCallback: TypeAlias = "Callable[[KafkaError | None, Message[bytes, bytes]], None]"

MAX_REJECTIONS_LOGGED = 20
"""Per poll; a garbage response of 100 records should not flood the logs (the metric has them all)."""
WAIT_SLICE_S = 0.5
"""Longest stretch without serving delivery callbacks or ticking /healthz while waiting."""
CRASH_PAUSE_S = 5.0
"""A lane whose poll raised something unexpected (a bug) waits this long before trying again."""


def message_headers(stream: Stream) -> list[tuple[str, str | bytes | None]]:
    return [
        ("content-type", b"application/json"),
        ("schema-version", str(stream.schema_version).encode()),
    ]


def producer_config(kafka: KafkaSettings, client_id: str) -> dict[str, str | int | float | bool]:
    """Idempotent, fully acknowledged, batched and compressed."""
    return {
        **kafka.client_config(),
        "client.id": client_id,
        # Idempotence: retries inside librdkafka never duplicate or reorder messages.
        "enable.idempotence": True,
        "acks": "all",
        # Small batching delay: API polls arrive in bursts, one request per burst is plenty.
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "compression.type": "zstd",
        "queue.buffering.max.messages": 200_000,
    }


def build_producer(kafka: KafkaSettings, client_id: str, stop: StopFlag) -> Producer:
    def on_error(err: KafkaError) -> None:
        if err.fatal():
            # e.g. the idempotent producer lost its sequence state: keep going would risk duplicates.
            log.error("fatal Kafka error, stopping", extra={"error": str(err)})
            stop.set("kafka-fatal")
        else:
            log.warning("Kafka client error", extra={"error": str(err)})

    conf: dict[str, Any] = {**producer_config(kafka, client_id), "error_cb": on_error}
    return Producer(conf)


@dataclass(frozen=True)
class RunOptions:
    interval_s: float
    once: bool = False
    count: int | None = None
    shutdown_timeout_s: float = 20.0


@dataclass
class _Lane:
    source: Source
    metrics: ProducerMetrics
    ok: bool | None = None
    """Whether the last poll gave usable data; None before the first."""
    thread: threading.Thread | None = None


@dataclass
class _Outcome:
    lane: _Lane
    result: PollResult | None = None
    error: Exception | None = None
    wait_s: float = 0.0
    """The least the lane waits before its next poll (a server's Retry-After, replay pacing)."""
    duration_s: float = 0.0
    handled: threading.Event = field(default_factory=threading.Event)
    """Set by the main thread once the outcome is published."""


class Runner:
    def __init__(
        self,
        sources: Sequence[Source],
        producer: Producer,
        topic: str,
        metrics: ProducerMetrics,
        health: Health,
        stop: StopFlag,
        options: RunOptions,
        halt: StopFlag | None = None,
    ) -> None:
        """`metrics` is labelled per source (`for_source`). `halt` stops the workers and must be the
        flag their fetchers sleep on, so that --count reached or --once done ends a backoff sleep;
        the runner sets it when it stops for any reason."""
        if not sources:
            raise ValueError("a runner needs at least one source")
        self._lanes = [_Lane(s, metrics.for_source(s.label)) for s in sources]
        self._stream: Stream = STREAMS[sources[0].stream]
        self._headers = message_headers(self._stream)
        self._producer = producer
        self._topic = topic
        self._health = health
        self._stop = stop
        self._halt = halt or StopFlag()
        self._opts = options
        self._outcomes: queue.Queue[_Outcome] = queue.Queue(maxsize=len(self._lanes))
        self.enqueued = 0
        self.delivered = 0
        self.failed = 0
        self.polls = 0
        self._last_log = 0.0
        self._delivery_ok = True

    # --- Kafka ------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self.enqueued - self.delivered - self.failed

    def _delivery_callback(self, metrics: ProducerMetrics) -> DeliveryCallback:
        """Counts each acknowledgement under the source whose record it was."""

        def on_delivery(err: KafkaError | None, msg: Message[bytes, bytes]) -> None:
            if err is None:
                self.delivered += 1
                metrics.produced()
                if not self._delivery_ok:
                    self._delivery_ok = True
                    self._update_ready()
                return
            self.failed += 1
            metrics.delivery_failed()
            log.error(
                "delivery failed", extra={"topic": self._topic, "key": _key_text(msg), "error": str(err)}
            )
            if self._delivery_ok:
                self._delivery_ok = False
                self._update_ready()

        return on_delivery

    def _update_ready(self) -> None:
        """Ready = some source's last poll gave usable data and the last delivery was acknowledged."""
        polled_ok = any(lane.ok for lane in self._lanes)
        self._health.set_ready(
            polled_ok and self._delivery_ok,
            topic=self._topic,
            last_poll_ok=polled_ok,
            last_delivery_ok=self._delivery_ok,
            sources={lane.source.label: lane.ok for lane in self._lanes},
        )

    def _send(self, key: str, value: bytes, on_delivery: DeliveryCallback) -> bool:
        """Enqueue one message; when librdkafka's queue is full, serve callbacks until it is not."""
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=value,
                    key=key.encode("utf-8"),
                    headers=self._headers,
                    on_delivery=on_delivery,
                )
                self.enqueued += 1
                return True
            except BufferError:
                if self._stop.is_set():
                    return False
                self._producer.poll(0.1)
                self._health.tick()

    # --- workers ----------------------------------------------------------------------------------

    def _work(self, lane: _Lane) -> None:
        """A lane's loop: poll, hand the outcome over and wait until it is published, then wait the
        interval; until halted (or after one poll with --once). While everything --count needs is
        in flight it does not poll (a failed delivery may still ask for more)."""
        while not self._halt.is_set():
            if self._remaining() == 0:
                self._halt.wait(WAIT_SLICE_S)
                continue
            outcome = self._poll(lane)
            if outcome is None or not self._hand_over(outcome):
                return
            if self._opts.once:
                return
            self._halt.wait(max(self._opts.interval_s, outcome.wait_s))

    def _poll(self, lane: _Lane) -> _Outcome | None:
        started = time.monotonic()
        outcome = _Outcome(lane)
        try:
            outcome.result = lane.source.poll()
            outcome.wait_s = outcome.result.min_wait_s
        except FetchError as exc:
            if exc.status == "stopped":  # halted during a backoff sleep: not the API's fault
                return None
            outcome.error, outcome.wait_s = exc, exc.wait_s or 0.0
        except PayloadError as exc:
            outcome.error, outcome.wait_s = exc, exc.wait_s or 0.0
        except Exception as exc:  # a bug in one source must not end the others' polling
            log.exception("poll crashed", extra={"source": lane.source.label})
            outcome.error, outcome.wait_s = exc, CRASH_PAUSE_S
        outcome.duration_s = time.monotonic() - started
        return outcome

    def _hand_over(self, outcome: _Outcome) -> bool:
        """Queue the outcome and wait until the main thread has published it; False when halted
        first. One outcome per lane in flight: a lane never runs ahead of its publishing."""
        while not self._halt.is_set():
            try:
                self._outcomes.put(outcome, timeout=WAIT_SLICE_S)
                break
            except queue.Full:
                continue
        while not self._halt.is_set():
            if outcome.handled.wait(WAIT_SLICE_S):
                return True
        return False

    # --- one poll's outcome, in the main thread ---------------------------------------------------

    def _remaining(self) -> int | None:
        if self._opts.count is None:
            return None
        return max(0, self._opts.count - self.delivered - self.in_flight)

    def _publish(self, lane: _Lane, result: PollResult) -> tuple[int, int]:
        """Produce the poll's records (up to what --count still needs). Returns (sent, rejected)."""
        self._report_rejections(lane, result.parsed.rejections)
        rejected = len(result.parsed.rejections)
        on_delivery = self._delivery_callback(lane.metrics)
        sent = 0
        for payload in result.parsed.records:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                break
            envelope = wrap(self._stream, payload, lane.source.label)
            value = encode(envelope)
            if len(value) > DEFAULT_MAX_MESSAGE_BYTES:
                # The sink would dead-letter it; better to say so here, where the cause is visible.
                self._report_rejections(lane, [Rejection("oversize", f"{len(value)} bytes", envelope.key)])
                rejected += 1
                continue
            if not self._send(envelope.key, value, on_delivery):
                break
            sent += 1
            if sent % 1000 == 0:
                self._producer.poll(0)
        return sent, rejected

    def _report_rejections(self, lane: _Lane, rejections: list[Rejection]) -> None:
        for i, rej in enumerate(rejections):
            lane.metrics.rejected(rej.reason)
            if i < MAX_REJECTIONS_LOGGED:
                log.warning(
                    "record rejected",
                    extra={
                        "reason": rej.reason,
                        "detail": rej.detail,
                        "record": rej.record_id,
                        "source": lane.source.label,
                    },
                )
        if len(rejections) > MAX_REJECTIONS_LOGGED:
            log.warning(
                "more records rejected",
                extra={"count": len(rejections) - MAX_REJECTIONS_LOGGED, "source": lane.source.label},
            )

    def _handle(self, outcome: _Outcome) -> None:
        lane, result, error = outcome.lane, outcome.result, outcome.error
        self.polls += 1
        if result is None:
            lane.metrics.poll("error")
            if isinstance(error, PayloadError):
                lane.metrics.api_error(error.status)
                log.warning(
                    "poll returned an unreadable payload",
                    extra={"source": lane.source.label, "status": error.status, "reason": str(error)},
                )
            elif isinstance(error, FetchError):
                log.warning(
                    "poll failed",
                    extra={"source": lane.source.label, "status": error.status, "reason": error.reason},
                )
            else:
                lane.metrics.api_error("internal")
            lane.ok = False
            self._update_ready()
            return
        lane.metrics.poll("not_modified" if result.not_modified else "ok")
        lane.ok = True
        self._update_ready()
        sent, rejected = self._publish(lane, result)
        now = time.monotonic()
        if now - self._last_log >= 1.0 or self._opts.interval_s >= 1.0:
            self._last_log = now
            log.info(
                "poll done",
                extra={
                    "source": lane.source.label,
                    "poll": self.polls,
                    "not_modified": result.not_modified,
                    "sent": sent,
                    "rejected": rejected,
                    "delivered_total": self.delivered,
                    "duration_s": round(outcome.duration_s, 3),
                },
            )

    # --- the loop ---------------------------------------------------------------------------------

    def _count_done(self) -> bool:
        return self._opts.count is not None and self.delivered >= self._opts.count

    def _workers_done(self) -> bool:
        return self._outcomes.empty() and not any(
            lane.thread is not None and lane.thread.is_alive() for lane in self._lanes
        )

    def run(self) -> int:
        """Loop until stopped, every lane done (--once), or --count delivered; then flush. Returns
        the exit code."""
        for lane in self._lanes:
            lane.thread = threading.Thread(
                target=self._work, args=(lane,), name=f"poll-{lane.source.label}", daemon=True
            )
            lane.thread.start()
        try:
            while not self._stop.is_set() and not self._count_done() and not self._workers_done():
                self._health.tick()
                self._producer.poll(0)
                if self._remaining() == 0:
                    # Everything --count needs is in flight: wait for acknowledgements, not for polls.
                    self._producer.poll(0.1)
                    continue
                try:
                    outcome = self._outcomes.get(timeout=WAIT_SLICE_S)
                except queue.Empty:
                    continue
                try:
                    self._handle(outcome)
                finally:
                    outcome.handled.set()
        finally:
            reason = "count reached" if self._count_done() else "sources done"
            self._halt.set(self._stop.signal_name or reason)
            self._join_workers()
        return self._shutdown()

    def _join_workers(self) -> None:
        """Give the workers a moment to notice the halt; one stuck in a request (at most the HTTP
        timeout) is left behind: it is a daemon thread and its result is dropped."""
        deadline = time.monotonic() + min(5.0, self._opts.shutdown_timeout_s / 2)
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(timeout=max(0.0, deadline - time.monotonic()))
                if lane.thread.is_alive():
                    log.warning("poller still busy at shutdown", extra={"source": lane.source.label})

    def _shutdown(self) -> int:
        left = self._producer.flush(self._opts.shutdown_timeout_s)
        summary = {
            "polls": self.polls,
            "enqueued": self.enqueued,
            "delivered": self.delivered,
            "failed": self.failed,
            "stop_reason": self._stop.signal_name,
        }
        if left:
            log.error(
                "messages not delivered before the shutdown timeout", extra={**summary, "undelivered": left}
            )
            return 1
        log.info("producer stopped", extra=summary)
        return 0


def _key_text(msg: Message[bytes, bytes] | None) -> str | None:
    key = msg.key() if msg is not None else None
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else None
