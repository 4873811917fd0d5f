"""Completeness and validity of the latest prices: a price for every coin, and a plausible one."""

from dagster_code.defs.crypto.queries import LATEST_MODEL
from dagster_code.lib.checks import mart_checks
from dagster_code.lib.quality import Range

crypto_checks = mart_checks(
    LATEST_MODEL,
    required=("venue", "coin_id", "vs_currency", "symbol", "price", "priced_at"),
    ranges=(
        # The contract's own bounds (services/contract/payloads.py): price > 0, changes >= -100 %.
        Range("price", low=0, high=1e12, low_inclusive=False),
        Range("bid", low=0, high=1e12, low_inclusive=False),
        Range("ask", low=0, high=1e12, low_inclusive=False),
        Range("change_pct_1h", low=-100, high=1e6),
        Range("change_pct_24h", low=-100, high=1e6),
        Range("market_cap", low=0),
    ),
)
