"""Dead-letter publishing: the original bytes, unchanged, plus headers saying what was wrong."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from services.config import KafkaSettings
from services.contract import dlq_topic

log = logging.getLogger(__name__)

HEADER_PREFIX = "dlq."


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    error_class: str
    reason: str

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        return [
            (f"{HEADER_PREFIX}error.class", self.error_class.encode()),
            (f"{HEADER_PREFIX}error.reason", self.reason.encode("utf-8", "replace")[:2000]),
            (f"{HEADER_PREFIX}original.topic", self.topic.encode()),
            (f"{HEADER_PREFIX}original.partition", str(self.partition).encode()),
            (f"{HEADER_PREFIX}original.offset", str(self.offset).encode()),
            (f"{HEADER_PREFIX}original.timestamp", str(self.timestamp_ms).encode()),
            (f"{HEADER_PREFIX}failed.at", datetime.now(UTC).isoformat().encode()),
        ]


class DeadLetterPublisher:
    """Publishes synchronously per batch: the batch's offsets are stored only after every dead
    letter is acknowledged, so a poison message is never lost (it may be dead-lettered twice after a
    crash: at-least-once, like everything upstream of the idempotent table writes)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._conf: dict[str, Any] = {
            **settings.client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.max.bytes": 4 * 1024 * 1024,
        }
        self._producer: Producer | None = None
        """Created at the first dead letter: most writers never need one (memory, broker connections)."""
        self._failures: list[str] = []

    def publish(self, letters: list[DeadLetter], timeout_s: float) -> None:
        """Send and wait for acknowledgement; raises if any letter could not be delivered."""
        if not letters:
            return
        if self._producer is None:
            self._producer = Producer(self._conf)
        self._failures.clear()
        for letter in letters:
            self._producer.produce(
                dlq_topic(letter.topic),
                key=letter.key,
                value=letter.value,
                headers=letter.headers(),
                on_delivery=self._on_delivery,
            )
            self._producer.poll(0)
        remaining = self._producer.flush(timeout_s)
        if remaining or self._failures:
            raise RuntimeError(
                f"dead-letter delivery failed ({remaining} pending): {'; '.join(self._failures[:3])}"
            )

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._failures.append(str(err))

    def close(self, timeout_s: float = 5.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout_s)
