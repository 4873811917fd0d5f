"""The lake side of raw-table migrations that rewrite rows the lake already holds.

The syncer copies rows by `ingest_seq`, which an UPDATE does not move, so a PostgreSQL migration
that rewrites existing rows (services/sink/migrations/) never reaches the lake by itself. Each
backfill applies the same change to the lake's copies. They are idempotent (they touch only rows
not migrated yet) and run whenever the syncer adds the columns they need, at start-up or when it
notices new source columns between cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Backfill:
    migration: str
    """The PostgreSQL migration this mirrors."""
    table: str
    needs_column: str
    """Runs once this column exists in the lake table."""
    set_sql: str
    where_sql: str


BACKFILLS: Final = (
    Backfill(
        migration="002_crypto_venues",
        table="raw_crypto_prices",
        needs_column="venue",
        # Rows from crypto_prices version 1 were CoinGecko's aggregate: '<coin>:<ts>' keys. A row a
        # syncer copied with stale columns during the upgrade already has a 3-part key: keep it and
        # take the venue from it.
        set_sql=(
            "venue = CASE WHEN natural_key LIKE '%:%:%' THEN split_part(natural_key, ':', 1)"
            " ELSE 'coingecko' END,"
            " natural_key = CASE WHEN natural_key LIKE '%:%:%' THEN natural_key"
            " ELSE 'coingecko:' || natural_key END"
        ),
        where_sql="venue IS NULL",
    ),
)
