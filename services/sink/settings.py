"""Sink settings (environment variables prefixed SINK_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.contract.envelope import DEFAULT_MAX_MESSAGE_BYTES


class SinkSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="SINK_")

    group_id: str = Field("datastack-sink", min_length=1)
    """SINK_GROUP_ID: Kafka consumer group."""
    batch_max_messages: int = Field(5000, ge=1, le=100_000)
    """SINK_BATCH_MAX_MESSAGES: a batch is written when it has this many messages... It is also the
    most the consumer buffers per partition while that partition's writer is busy: consumption of a
    partition pauses at this many waiting messages (memory stays flat under a backlog)."""
    batch_max_wait_ms: int = Field(100, ge=1, le=60_000)
    """SINK_BATCH_MAX_WAIT_MS: ...or when its first message has waited this long."""
    writers: int = Field(2, ge=1, le=16)
    """SINK_WRITERS: writer processes, each with its own PostgreSQL connection and transaction, so
    several batches are decoded and written at once (decoding is Python work: one process uses one
    core). A partition's batches are all written by one writer, in order. Each writer holds at most
    three batches and costs ~70 MB; the consumer process ~80 MB. 2 suits a 2-core node."""
    max_message_bytes: int = Field(DEFAULT_MAX_MESSAGE_BYTES, ge=1024)
    """SINK_MAX_MESSAGE_BYTES: larger messages are dead-lettered as oversize."""
    queued_max_kbytes: int = Field(16_384, ge=1024)
    """SINK_QUEUED_MAX_KBYTES: librdkafka prefetch bound (keeps memory flat under a backlog)."""
    retry_initial_s: float = Field(0.5, gt=0)
    """SINK_RETRY_INITIAL_S: first backoff after a database error."""
    retry_max_s: float = Field(15.0, gt=0)
    """SINK_RETRY_MAX_S: backoff cap while the database is unavailable."""
    session_timeout_ms: int = Field(45_000, ge=6_000, le=300_000)
    """SINK_SESSION_TIMEOUT_MS: how long a crashed member keeps its partitions before a rebalance."""
    group_instance_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,200}$")
    """SINK_GROUP_INSTANCE_ID: static membership (e.g. the StatefulSet pod name): a restarted pod
    gets its partitions back at once instead of waiting for the session timeout."""
    statement_timeout_ms: int = Field(60_000, ge=1_000, le=3_600_000)
    """SINK_STATEMENT_TIMEOUT_MS: a write that hangs (lock wait, stuck server) is cancelled after this
    long and retried like any transient database error, instead of stalling the sink silently."""
    statistics_interval_ms: int = Field(5000, ge=0)
    """SINK_STATISTICS_INTERVAL_MS: how often consumer lag is refreshed (0 disables)."""
