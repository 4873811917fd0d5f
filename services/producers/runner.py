"""The produce loop: poll a source, wrap and publish each record, wait, repeat; flush on the way out.

It knows nothing about HTTP or API shapes (sources do) and nothing about the command line (cli
does). Every iteration serves Kafka delivery callbacks (`poll(0)`) and ticks the liveness probe,
including during long waits, which are sliced so SIGTERM is noticed at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from services.config import KafkaSettings
from services.contract import STREAMS, Stream
from services.contract.envelope import DEFAULT_MAX_MESSAGE_BYTES, encode, wrap
from services.producers.http import FetchError, PayloadError
from services.producers.metrics import ProducerMetrics
from services.producers.sources.base import PollResult, Rejection, Source
from services.runtime import Health, StopFlag

log = logging.getLogger(__name__)

HEADERS: list[tuple[str, str | bytes | None]] = [
    ("content-type", b"application/json"),
    ("schema-version", b"1"),
]
MAX_REJECTIONS_LOGGED = 20
"""Per poll; a garbage response of 100 records should not flood the logs (the metric has them all)."""
WAIT_SLICE_S = 0.5
"""Longest stretch without serving delivery callbacks or ticking /healthz while waiting."""


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


class Runner:
    def __init__(
        self,
        source: Source,
        producer: Producer,
        topic: str,
        metrics: ProducerMetrics,
        health: Health,
        stop: StopFlag,
        options: RunOptions,
    ) -> None:
        self._source = source
        self._stream: Stream = STREAMS[source.stream]
        self._producer = producer
        self._topic = topic
        self._metrics = metrics
        self._health = health
        self._stop = stop
        self._opts = options
        self.enqueued = 0
        self.delivered = 0
        self.failed = 0
        self.polls = 0
        self._last_log = 0.0
        self._poll_ok = False
        self._delivery_ok = True

    # --- Kafka ------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self.enqueued - self.delivered - self.failed

    def _on_delivery(self, err: KafkaError | None, msg: Message[bytes, bytes]) -> None:
        if err is None:
            self.delivered += 1
            self._metrics.produced()
            if not self._delivery_ok:
                self._delivery_ok = True
                self._update_ready()
            return
        self.failed += 1
        self._metrics.delivery_failed()
        log.error("delivery failed", extra={"topic": self._topic, "key": _key_text(msg), "error": str(err)})
        if self._delivery_ok:
            self._delivery_ok = False
            self._update_ready()

    def _update_ready(self) -> None:
        """Ready = the last poll gave usable data and the last delivery was acknowledged."""
        self._health.set_ready(
            self._poll_ok and self._delivery_ok,
            topic=self._topic,
            last_poll_ok=self._poll_ok,
            last_delivery_ok=self._delivery_ok,
        )

    def _send(self, key: str, value: bytes) -> bool:
        """Enqueue one message; when librdkafka's queue is full, serve callbacks until it is not."""
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=value,
                    key=key.encode("utf-8"),
                    headers=HEADERS,
                    on_delivery=self._on_delivery,
                )
                self.enqueued += 1
                return True
            except BufferError:
                if self._stop.is_set():
                    return False
                self._producer.poll(0.1)
                self._health.tick()

    # --- one poll ---------------------------------------------------------------------------------

    def _remaining(self) -> int | None:
        if self._opts.count is None:
            return None
        return max(0, self._opts.count - self.delivered - self.in_flight)

    def _publish(self, result: PollResult) -> tuple[int, int]:
        """Produce the poll's records (up to what --count still needs). Returns (sent, rejected)."""
        self._report_rejections(result.parsed.rejections)
        rejected = len(result.parsed.rejections)
        sent = 0
        for payload in result.parsed.records:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                break
            envelope = wrap(self._stream, payload, self._source.label)
            value = encode(envelope)
            if len(value) > DEFAULT_MAX_MESSAGE_BYTES:
                # The sink would dead-letter it; better to say so here, where the cause is visible.
                self._report_rejections([Rejection("oversize", f"{len(value)} bytes", envelope.key)])
                rejected += 1
                continue
            if not self._send(envelope.key, value):
                break
            sent += 1
            if sent % 1000 == 0:
                self._producer.poll(0)
        return sent, rejected

    def _report_rejections(self, rejections: list[Rejection]) -> None:
        for i, rej in enumerate(rejections):
            self._metrics.rejected(rej.reason)
            if i < MAX_REJECTIONS_LOGGED:
                log.warning(
                    "record rejected",
                    extra={
                        "reason": rej.reason,
                        "detail": rej.detail,
                        "record": rej.record_id,
                        "source": self._source.label,
                    },
                )
        if len(rejections) > MAX_REJECTIONS_LOGGED:
            log.warning("more records rejected", extra={"count": len(rejections) - MAX_REJECTIONS_LOGGED})

    def _poll_once(self) -> float:
        """Poll the source and publish; returns the least time to wait before the next poll."""
        started = time.monotonic()
        try:
            result = self._source.poll()
        except FetchError as exc:
            if exc.status == "stopped":  # SIGTERM during a backoff sleep: not the API's fault
                return 0.0
            self._metrics.poll("error")
            self._poll_ok = False
            self._update_ready()
            log.warning(
                "poll failed",
                extra={"source": self._source.label, "status": exc.status, "reason": exc.reason},
            )
            return exc.wait_s or 0.0
        except PayloadError as exc:
            self._metrics.poll("error")
            self._metrics.api_error("parse")
            self._poll_ok = False
            self._update_ready()
            log.warning(
                "poll returned an unreadable payload",
                extra={"source": self._source.label, "reason": str(exc)},
            )
            return 0.0
        self._metrics.poll("not_modified" if result.not_modified else "ok")
        self._poll_ok = True
        self._update_ready()
        sent, rejected = self._publish(result)
        now = time.monotonic()
        if now - self._last_log >= 1.0 or self._opts.interval_s >= 1.0:
            self._last_log = now
            log.info(
                "poll done",
                extra={
                    "source": self._source.label,
                    "poll": self.polls + 1,
                    "not_modified": result.not_modified,
                    "sent": sent,
                    "rejected": rejected,
                    "delivered_total": self.delivered,
                    "duration_s": round(now - started, 3),
                },
            )
        return result.min_wait_s

    # --- the loop ---------------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._producer.poll(0)
            self._health.tick()
            self._stop.wait(min(left, WAIT_SLICE_S))

    def _count_done(self) -> bool:
        return self._opts.count is not None and self.delivered >= self._opts.count

    def run(self) -> int:
        """Loop until stopped, --once, or --count delivered; then flush. Returns the exit code."""
        while not self._stop.is_set() and not self._count_done():
            self._health.tick()
            self._producer.poll(0)
            remaining = self._remaining()
            if remaining == 0:
                # Everything --count needs is in flight: wait for acknowledgements, not for the source.
                self._producer.poll(0.1)
                continue
            min_wait = self._poll_once()
            self.polls += 1
            if self._opts.once:
                break
            if self._remaining() == 0:
                continue
            self._wait(max(self._opts.interval_s, min_wait))
        return self._shutdown()

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
