"""Materialization metadata a user reads without opening a database: numbers the UI plots over time
(`MetadataValue.float/int`), short texts, and markdown preview tables."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import dagster as dg

Column = tuple[str, str]
"""(row key, header)."""


def cell(value: Any) -> str:
    """A value as a short, stable text: floats to 4 significant decimals, timestamps in UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        return f"{number:,.4f}".rstrip("0").rstrip(".") if abs(number) < 1e6 else f"{number:,.0f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value.tzinfo else str(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> dg.MetadataValue:
    """A markdown table of `rows` (at most the first 20) with the given columns."""
    if not rows:
        return dg.MetadataValue.md("_no rows_")
    lines = [
        "| " + " | ".join(header for _, header in columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |" for row in rows[:20]]
    return dg.MetadataValue.md("\n".join(lines))


def number(value: Any) -> dg.MetadataValue:
    """A numeric metadata value (plotted over time in the UI); NULL becomes NaN so the series keeps
    its type instead of turning into text."""
    if value is None:
        return dg.MetadataValue.float(float("nan"))
    if isinstance(value, int) and not isinstance(value, bool):
        return dg.MetadataValue.int(value)
    return dg.MetadataValue.float(round(float(value), 6))


def text(value: Any) -> dg.MetadataValue:
    return dg.MetadataValue.text(cell(value) or "-")
