"""The data-quality rules behind the asset checks: freshness and volume of the raw tables,
completeness and validity (schema and ranges) of the marts. Each rule is one SQL query composed with
psycopg.sql (identifiers quoted, values as parameters) and a pure judgement, so the thresholds are
unit-testable without a database and every check explains its verdict in metadata.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dagster as dg
from psycopg import sql

from dagster_code.lib.metadata import cell, markdown_table, number
from dagster_code.lib.resources import PostgresResource
from dagster_code.lib.settings import QualitySettings

# -- raw tables -----------------------------------------------------------------------------------


def freshness(postgres: PostgresResource, table: str, max_age: timedelta) -> dg.AssetCheckResult:
    """Stale when the newest row landed (`ingested_at`) longer ago than `max_age`; missing when the
    table has no row at all. Landing time, not observation time: a replayed or late observation
    that lands now is fresh data for the pipeline."""
    row = postgres.query(
        sql.SQL("SELECT max(ingested_at) AS newest, now() AS now FROM {}").format(sql.Identifier(table))
    )[0]
    newest, now = row["newest"], row["now"]
    if newest is None:
        return dg.AssetCheckResult(
            passed=False,
            metadata={"reason": dg.MetadataValue.text(f"{table} has no rows"), "max_age": str(max_age)},
        )
    age = now - newest
    return dg.AssetCheckResult(
        passed=age <= max_age,
        metadata={
            "newest_ingested_at": cell(newest),
            "age_seconds": number(round(age.total_seconds(), 3)),
            "max_age_seconds": number(max_age.total_seconds()),
        },
    )


@dataclass(frozen=True)
class VolumeVerdict:
    passed: bool
    reason: str
    last_hour: int
    baseline_median: float | None
    history_hours: int


def judge_volume(hourly: Mapping[int, int], history_hours: int, settings: QualitySettings) -> VolumeVerdict:
    """`hourly[k]`: rows landed between k+1 and k hours ago (k = 0 is the last hour). Only the
    `history_hours` full hours since the table's first row count as baseline (a new source is not
    an anomaly); the baseline is their median, robust to a single burst or gap."""
    last_hour = hourly.get(0, 0)
    baseline_hours = min(history_hours, settings.dq_volume_baseline_hours)
    if baseline_hours < settings.dq_volume_min_history_hours:
        return VolumeVerdict(
            True, f"not enough history ({baseline_hours} h) to judge", last_hour, None, baseline_hours
        )
    median = statistics.median(hourly.get(k, 0) for k in range(1, baseline_hours + 1))
    if median > 0 and last_hour < settings.dq_volume_min_ratio * median:
        return VolumeVerdict(
            False,
            f"stopped: {last_hour} rows in the last hour, baseline {median:g}/h",
            last_hour,
            median,
            baseline_hours,
        )
    if last_hour > settings.dq_volume_max_ratio * max(median, 1):
        return VolumeVerdict(
            False,
            f"exploded: {last_hour} rows in the last hour, baseline {median:g}/h",
            last_hour,
            median,
            baseline_hours,
        )
    return VolumeVerdict(True, "within bounds", last_hour, median, baseline_hours)


def volume(postgres: PostgresResource, table: str, settings: QualitySettings) -> dg.AssetCheckResult:
    """A source that stops or explodes: rows landed in the last hour against the hourly median of
    the hours before it."""
    hours = settings.dq_volume_baseline_hours
    rows = postgres.query(
        sql.SQL(
            "SELECT floor(extract(epoch FROM (now() - ingested_at)) / 3600)::int AS hours_ago, "
            "count(*) AS n FROM {} WHERE ingested_at > now() - make_interval(hours => %s) "
            "AND ingested_at <= now() GROUP BY 1"
        ).format(sql.Identifier(table)),
        (hours + 1,),
    )
    first = postgres.query(
        sql.SQL(
            "SELECT floor(extract(epoch FROM (now() - min(ingested_at))) / 3600)::int AS hours FROM {}"
        ).format(sql.Identifier(table))
    )[0]["hours"]
    # Full hours of history before the last hour: the table's first row is `first` hours old.
    history = max(0, int(first) - 1) if first is not None else 0
    verdict = judge_volume({int(r["hours_ago"]): int(r["n"]) for r in rows}, history, settings)
    return dg.AssetCheckResult(
        passed=verdict.passed,
        metadata={
            "reason": dg.MetadataValue.text(verdict.reason),
            "rows_last_hour": number(verdict.last_hour),
            "baseline_rows_per_hour": number(verdict.baseline_median),
            "baseline_hours": number(verdict.history_hours),
        },
    )


# -- marts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """Valid values of one column; NULLs are completeness's business, not validity's."""

    column: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True

    def violation(self) -> sql.Composable:
        column = sql.Identifier(self.column)
        parts: list[sql.Composable] = []
        if self.low is not None:
            op = sql.SQL("<") if self.low_inclusive else sql.SQL("<=")
            parts.append(sql.SQL("{} {} {}").format(column, op, sql.Literal(self.low)))
        if self.high is not None:
            parts.append(sql.SQL("{} > {}").format(column, sql.Literal(self.high)))
        return sql.SQL(" OR ").join(parts) if parts else sql.SQL("false")

    def describe(self) -> str:
        low = "" if self.low is None else f"{self.low:g} {'<=' if self.low_inclusive else '<'} "
        high = "" if self.high is None else f" <= {self.high:g}"
        return f"{low}{self.column}{high}"


@dataclass(frozen=True)
class MartRules:
    """What a mart must hold for its report to be published."""

    model: str
    required: tuple[str, ...]
    ranges: tuple[Range, ...] = ()
    declared_columns: Mapping[str, str] = field(default_factory=dict)
    """name -> data_type from the model's contract in the dbt manifest."""


_PG_TYPES = {
    "float8": "double precision",
    "float": "double precision",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "bool": "boolean",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "varchar": "character varying",
}


def pg_type(declared: str) -> str:
    """A contract's data_type as information_schema spells it."""
    name = declared.strip().lower()
    return _PG_TYPES.get(name, name)


def completeness(postgres: PostgresResource, rules: MartRules) -> dg.AssetCheckResult:
    """Missing data fails: an empty mart, or rows without a required field."""
    nulls = [
        sql.SQL("count(*) - count({}) AS {}").format(sql.Identifier(c), sql.Identifier(c))
        for c in rules.required
    ]
    row = postgres.query(
        sql.SQL("SELECT count(*) AS {}, {} FROM {}").format(
            sql.Identifier("__rows"), sql.SQL(", ").join(nulls), postgres.relation(rules.model)
        )
    )[0]
    total = int(row.pop("__rows"))
    missing = {column: int(n) for column, n in row.items() if n}
    passed = total > 0 and not missing
    metadata: dict[str, Any] = {"rows": number(total), "rows_missing_fields": number(sum(missing.values()))}
    if total == 0:
        metadata["reason"] = dg.MetadataValue.text(f"{rules.model} is empty")
    elif missing:
        metadata["reason"] = dg.MetadataValue.text(
            "NULL in required fields: " + ", ".join(f"{c} ({n})" for c, n in missing.items())
        )
    return dg.AssetCheckResult(passed=passed, metadata=metadata)


def schema_problems(actual: Mapping[str, str], declared: Mapping[str, str]) -> list[str]:
    """Differences between the live table's columns and the model's declared contract."""
    problems = [f"missing column {c}" for c in declared if c not in actual]
    problems += [f"unexpected column {c}" for c in actual if declared and c not in declared]
    problems += [
        f"{c} is {actual[c]}, contract says {pg_type(t)}"
        for c, t in declared.items()
        if c in actual and actual[c] != pg_type(t)
    ]
    return problems


def validity(postgres: PostgresResource, rules: MartRules) -> dg.AssetCheckResult:
    """Invalid data fails: a schema that drifted from the model's contract, or values out of range."""
    schema = postgres.analytics_schema()
    columns = {
        r["column_name"]: r["data_type"]
        for r in postgres.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, rules.model),
        )
    }
    problems = schema_problems(columns, rules.declared_columns)
    # Ranges only on columns whose type is the contract's: `text <= 0` would be an SQL error.
    checked = [
        r
        for r in rules.ranges
        if r.column in columns
        and (
            r.column not in rules.declared_columns
            or columns[r.column] == pg_type(rules.declared_columns[r.column])
        )
    ]
    out_of_range: dict[str, int] = {}
    samples: list[dict[str, Any]] = []
    if checked:
        counts = postgres.query(
            sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(
                    sql.SQL("count(*) FILTER (WHERE {}) AS {}").format(
                        r.violation(), sql.Identifier(r.column)
                    )
                    for r in checked
                ),
                postgres.relation(rules.model),
            )
        )[0]
        out_of_range = {c: int(n) for c, n in counts.items() if n}
        for r in checked:
            if r.column in out_of_range:
                samples += [
                    {"rule": r.describe(), "value": s["v"]}
                    for s in postgres.query(
                        sql.SQL("SELECT {} AS v FROM {} WHERE {} LIMIT 3").format(
                            sql.Identifier(r.column), postgres.relation(rules.model), r.violation()
                        )
                    )
                ]
    problems += [
        f"{n} rows break {next(r for r in checked if r.column == c).describe()}"
        for c, n in out_of_range.items()
    ]
    metadata: dict[str, Any] = {
        "rows_out_of_range": number(sum(out_of_range.values())),
        "schema_problems": number(len(problems) - len(out_of_range)),
        "rules": dg.MetadataValue.text("; ".join(r.describe() for r in rules.ranges) or "-"),
    }
    if problems:
        metadata["reason"] = dg.MetadataValue.text("; ".join(problems))
    if samples:
        metadata["samples"] = markdown_table(samples, [("rule", "rule"), ("value", "value")])
    return dg.AssetCheckResult(passed=not problems, metadata=metadata)
