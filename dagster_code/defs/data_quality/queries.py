"""The data-quality queries: per source freshness and issue totals, and clean landing windows."""

from typing import Final

FRESHNESS_MODEL: Final = "dq_source_freshness"
HEALTH_MODEL: Final = "dq_source_health"
MODELS: Final = (FRESHNESS_MODEL, HEALTH_MODEL)

SOURCES: Final = """
SELECT source_name, row_count, rows_last_hour, rows_last_day, duplicate_key_count,
       null_required_count, out_of_range_count, last_ingested_at, freshness_lag_seconds, freshness_status
FROM {freshness} ORDER BY source_name
"""
CLEAN_WINDOWS: Final = """
SELECT count(*) AS windows, count(*) FILTER (WHERE is_clean) AS clean
FROM {health}
WHERE window_grain = 'hour'
  AND window_start >= (SELECT max(window_start) FROM {health}) - interval '24 hours'
"""
