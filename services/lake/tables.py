"""The fixed set of tables the syncer copies, and identifier quoting for the SQL built around them.

DuckDB cannot take identifiers as parameters, so every identifier in generated SQL is either one of
the names below or a column name read from the source catalog, and is always double-quoted.
"""

from __future__ import annotations

from typing import Final

RAW_TABLES: Final = ("raw_crypto_prices", "raw_github_events", "raw_weather_data")
"""Source tables in PostgreSQL (schema `public`) and lake tables (schema `main`) of the same name."""

STATE_TABLE: Final = "_datastack_sync_state"
"""Lake table with one row per committed batch: the watermark is max(last_ingest_seq) per table."""

SOURCE_SCHEMA: Final = "public"
LAKE_SCHEMA: Final = "main"
WATERMARK_COLUMN: Final = "ingest_seq"


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (DuckDB and PostgreSQL share the rule)."""
    return '"' + name.replace('"', '""') + '"'


def check_raw_table(name: str) -> str:
    if name not in RAW_TABLES:
        raise ValueError(f"{name!r} is not one of the synced tables {RAW_TABLES}")
    return name
