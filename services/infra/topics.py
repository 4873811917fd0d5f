"""Create the contract's topics and dead-letter topics (idempotent)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from services.config import KafkaSettings
from services.contract import STREAMS

DLQ_RETENTION_MS = str(14 * 24 * 3600 * 1000)


def ensure_topics(settings: KafkaSettings, partitions: int = 3, timeout: float = 30.0) -> list[str]:
    admin = AdminClient(settings.client_config())
    ns = settings.topic_namespace
    wanted = []
    for stream in STREAMS.values():
        wanted.append(NewTopic(stream.topic(ns), num_partitions=partitions, replication_factor=1))
        # One partition keeps dead letters in arrival order; they are rare and read by humans.
        wanted.append(
            NewTopic(
                stream.dlq(ns),
                num_partitions=1,
                replication_factor=1,
                config={"retention.ms": DLQ_RETENTION_MS},
            )
        )
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [t for t in wanted if t.topic not in existing]
    if missing:
        for topic, future in admin.create_topics(missing, operation_timeout=timeout).items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"cannot create topic {topic}: {exc}") from exc
    return [t.topic for t in wanted]
