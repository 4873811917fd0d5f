"""Completeness and validity of the daily top repositories."""

from dagster_code.defs.developer.queries import TOP_REPOS_MODEL
from dagster_code.lib.checks import mart_checks
from dagster_code.lib.quality import Range

developer_checks = mart_checks(
    TOP_REPOS_MODEL,
    required=("activity_date", "repo_rank", "repo_id", "repo_name", "event_count"),
    ranges=(
        Range("repo_rank", low=1),
        Range("event_count", low=1),
        Range("actor_count", low=1),
        Range("event_share_pct", low=0, high=100),
    ),
)
