"""Prometheus metrics of the sink (names prefixed datastack_sink_)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("datastack_sink_messages_consumed", "Messages consumed", ["topic"])
ROWS_WRITTEN = Counter("datastack_sink_rows_written", "Rows inserted into raw tables", ["table"])
DUPLICATES = Counter("datastack_sink_duplicates_skipped", "Rows skipped by ON CONFLICT", ["table"])
DEAD_LETTERED = Counter(
    "datastack_sink_dead_lettered", "Messages sent to a dead-letter topic", ["topic", "reason"]
)
BATCH_SIZE = Histogram(
    "datastack_sink_batch_size",
    "Messages per written batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000),
)
WRITE_LATENCY = Histogram(
    "datastack_sink_write_seconds",
    "Batch write latency (COPY + INSERT + commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STAGED_BATCHES = Counter(
    "datastack_sink_staged_batches",
    "Batches written through staging + ON CONFLICT instead of one COPY (replays, refused rows)",
    ["table"],
)
IN_FLIGHT = Gauge("datastack_sink_batches_in_flight", "Batches handed to writer processes, not yet committed")
PARTITIONS_IN_FLIGHT = Gauge(
    "datastack_sink_partitions_in_flight",
    "Partitions with batches handed to writer processes, not yet committed",
)
DB_ERRORS = Counter("datastack_sink_db_errors", "Database errors that paused consumption", ["kind"])
KAFKA_ERRORS = Counter("datastack_sink_kafka_errors", "Consumer errors reported by librdkafka", ["code"])
PAUSED = Gauge("datastack_sink_paused", "1 while consumption is paused waiting for the database")
LAG = Gauge("datastack_sink_consumer_lag", "Messages behind the high watermark", ["topic", "partition"])
LAST_COMMIT = Gauge("datastack_sink_last_commit_timestamp_seconds", "Unix time of the last batch commit")
