"""The crypto price summary: latest prices, the day's top movers and their volatility."""

from typing import Any

import dagster as dg
from psycopg import sql

from dagster_code.defs.crypto import queries
from dagster_code.lib import groups
from dagster_code.lib.metadata import markdown_table, number, text
from dagster_code.lib.resources import PostgresResource


def series(row: dict[str, Any]) -> str:
    """A price series' name: the coin at its venue."""
    return f"{row['coin_id']}@{row['venue']}"


@dg.asset(
    group_name=groups.CRYPTO,
    deps=[queries.SUMMARY_MODEL, queries.LATEST_MODEL, queries.CROSS_EXCHANGE_MODEL],
    kinds={"python", "postgres"},
    description=(
        "Crypto price summary (the original's first asset): the latest price per coin and venue, "
        "the day's top movers with their realized volatility, and the spread between the cheapest "
        "and the dearest exchange, read from the postgres marts."
    ),
)
def crypto_market_summary(postgres: PostgresResource) -> dg.MaterializeResult[None]:
    relations = {
        "latest": postgres.relation(queries.LATEST_MODEL),
        "summary": postgres.relation(queries.SUMMARY_MODEL),
        "cross": postgres.relation(queries.CROSS_EXCHANGE_MODEL),
    }
    latest = [
        {**r, "series": series(r)} for r in postgres.query(sql.SQL(queries.LATEST_PRICES).format(**relations))
    ]
    movers = [
        {**r, "series": series(r)} for r in postgres.query(sql.SQL(queries.DAY_MOVERS).format(**relations))
    ]
    summary_rows = postgres.query(sql.SQL(queries.SUMMARY_ROWS).format(**relations))[0]["n"]
    spreads = postgres.query(sql.SQL(queries.NEWEST_SPREADS).format(**relations))
    widest = next((s for s in spreads if s["spread_bps"] is not None), None)
    ranked = [m for m in movers if m["change_pct"] is not None]
    gainer = max(ranked, key=lambda m: m["change_pct"], default=None)
    loser = min(ranked, key=lambda m: m["change_pct"], default=None)
    volatile = max(
        (m for m in movers if m["realized_volatility"] is not None),
        key=lambda m: m["realized_volatility"],
        default=None,
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": number(len(latest)),
            "coins": number(len({r["coin_id"] for r in latest})),
            "venues": number(len({r["venue"] for r in latest})),
            "series": number(len(latest)),
            "summary_rows": number(int(summary_rows)),
            "top_gainer": text(gainer and gainer["series"]),
            "top_gainer_change_pct": number(gainer and gainer["change_pct"]),
            "top_loser": text(loser and loser["series"]),
            "top_loser_change_pct": number(loser and loser["change_pct"]),
            "most_volatile": text(volatile and volatile["series"]),
            "max_volatility": number(volatile and volatile["realized_volatility"]),
            "latest_priced_at": text(max((r["priced_at"] for r in latest), default=None)),
            "widest_spread_coin": text(widest and widest["coin_id"]),
            "widest_spread_bps": number(widest and widest["spread_bps"]),
            "cross_exchange": markdown_table(
                spreads,
                [
                    ("coin_id", "coin"),
                    ("venue_count", "exchanges"),
                    ("cheapest_venue", "cheapest"),
                    ("dearest_venue", "dearest"),
                    ("spread_bps", "spread bps"),
                    ("minute_start", "minute"),
                ],
            ),
            "top_movers": markdown_table(
                movers[:5],
                [
                    ("series", "coin"),
                    ("change_pct", "day change %"),
                    ("realized_volatility", "volatility"),
                    ("observation_count", "prices"),
                ],
            ),
            "preview": markdown_table(
                latest,
                [
                    ("series", "coin"),
                    ("symbol", "symbol"),
                    ("price", "price"),
                    ("change_pct_1h", "1h %"),
                    ("change_pct_24h", "24h %"),
                    ("priced_at", "priced at"),
                ],
            ),
        }
    )
