"""Completeness and validity as the data-quality marts measure them over the raw data: every source
has landed rows, none is missing a required field, breaks a contract range or repeats a key."""

from dagster_code.defs.data_quality.queries import FRESHNESS_MODEL
from dagster_code.lib.checks import mart_checks
from dagster_code.lib.quality import Range

data_quality_checks = mart_checks(
    FRESHNESS_MODEL,
    # last_ingested_at is NULL for a source without rows: missing data fails completeness.
    required=("source_name", "row_count", "freshness_status", "last_ingested_at"),
    ranges=(
        Range("null_required_count", low=0, high=0),
        Range("out_of_range_count", low=0, high=0),
        Range("duplicate_key_count", low=0, high=0),
        Range("row_count", low=1),
    ),
)
