"""Data quality: per source freshness lag, recent volume and issue counts, and the share of clean
landing windows over the last day."""

import dagster as dg
from psycopg import sql

from dagster_code.defs.data_quality import queries
from dagster_code.lib import groups
from dagster_code.lib.metadata import markdown_table, number
from dagster_code.lib.resources import PostgresResource


@dg.asset(
    group_name=groups.DATA_QUALITY,
    deps=list(queries.MODELS),
    kinds={"python", "postgres"},
    description=(
        "Data quality (the original's fourth asset): per raw source the freshness lag and status, "
        "rows landed in the last hour and day, duplicates, missing fields and out-of-range values, "
        "and the share of clean hourly landing windows over the last 24 hours."
    ),
)
def data_quality_report(postgres: PostgresResource) -> dg.MaterializeResult[None]:
    relations = {
        "freshness": postgres.relation(queries.FRESHNESS_MODEL),
        "health": postgres.relation(queries.HEALTH_MODEL),
    }
    sources = postgres.query(sql.SQL(queries.SOURCES).format(**relations))
    windows = postgres.query(sql.SQL(queries.CLEAN_WINDOWS).format(**relations))[0]
    clean_pct = 100 * int(windows["clean"]) / int(windows["windows"]) if windows["windows"] else None
    per_source: dict[str, dg.MetadataValue] = {}
    for source in sources:
        name = source["source_name"]
        per_source[f"{name}_lag_seconds"] = number(source["freshness_lag_seconds"])
        per_source[f"{name}_rows_last_hour"] = number(source["rows_last_hour"])
    issues = sum(
        int(s["duplicate_key_count"]) + int(s["null_required_count"]) + int(s["out_of_range_count"])
        for s in sources
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": number(len(sources)),
            "sources": number(len(sources)),
            "sources_fresh": number(sum(s["freshness_status"] == "ok" for s in sources)),
            "issues": number(issues),
            "clean_window_pct": number(clean_pct),
            **per_source,
            "preview": markdown_table(
                sources,
                [
                    ("source_name", "source"),
                    ("freshness_status", "status"),
                    ("freshness_lag_seconds", "lag s"),
                    ("rows_last_hour", "last hour"),
                    ("rows_last_day", "last day"),
                    ("row_count", "rows"),
                    ("duplicate_key_count", "duplicates"),
                    ("null_required_count", "missing fields"),
                    ("out_of_range_count", "out of range"),
                ],
            ),
        }
    )
