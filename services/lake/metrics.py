"""Prometheus metrics of the syncer (module-level: one registry entry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS_SYNCED = Counter("datastack_lake_rows_synced_total", "Raw rows committed to the lake", ["table"])
COMMITS = Counter("datastack_lake_commits_total", "DuckLake transactions committed by the syncer")
BATCHES = Counter("datastack_lake_batches_total", "Batches (one table, one transaction) committed", ["table"])
WATERMARK = Gauge("datastack_lake_watermark_seq", "Highest ingest_seq committed to the lake", ["table"])
SOURCE_MAX = Gauge("datastack_lake_source_max_seq", "Highest ingest_seq visible in PostgreSQL", ["table"])
LAG = Gauge("datastack_lake_lag_seq", "Source max ingest_seq minus the lake watermark", ["table"])
UNSETTLED = Gauge(
    "datastack_lake_unsettled_fences",
    "Sync fences waiting for in-flight source transactions (stuck > 0 means a long writer)",
    ["table"],
)
COMMIT_PACING_SECONDS = Counter(
    "datastack_lake_commit_pacing_seconds_total",
    "Time commits waited to keep SYNC_MIN_COMMIT_GAP_S between them (room for other writers)",
)
ERRORS = Counter("datastack_lake_sync_errors_total", "Sync cycles that failed", ["stage"])
BATCH_SECONDS = Histogram(
    "datastack_lake_batch_seconds",
    "Duration of one batch (read from PostgreSQL, write Parquet, commit)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LAST_SUCCESS = Gauge(
    "datastack_lake_last_success_timestamp_seconds", "Unix time of the last successful cycle"
)
