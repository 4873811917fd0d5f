"""Every crypto-specific query of the code location, in one place.

The marts hold one price series per venue (coingecko's aggregate, coinbase, kraken, bitstamp,
gemini): `crypto_latest_prices` and `crypto_price_summary` are per (venue, coin, quote currency),
`crypto_cross_exchange_minutely` compares the exchanges per coin and minute. `{latest}`,
`{summary}` and `{cross}` are the quoted relations of those marts.
"""

from typing import Final

LATEST_MODEL: Final = "crypto_latest_prices"
SUMMARY_MODEL: Final = "crypto_price_summary"
CROSS_EXCHANGE_MODEL: Final = "crypto_cross_exchange_minutely"

LATEST_PRICES: Final = """
SELECT * FROM {latest} ORDER BY coin_id, vs_currency, venue
"""

DAY_MOVERS: Final = """
SELECT summary.*
FROM {summary} AS summary
JOIN (
    SELECT venue, coin_id, vs_currency, max(window_start) AS window_start
    FROM {summary} WHERE window_grain = 'day' GROUP BY venue, coin_id, vs_currency
) AS newest USING (venue, coin_id, vs_currency, window_start)
WHERE summary.window_grain = 'day'
ORDER BY abs(summary.change_pct) DESC NULLS LAST, summary.coin_id, summary.venue
"""

SUMMARY_ROWS: Final = "SELECT count(*) AS n FROM {summary}"

NEWEST_SPREADS: Final = """
SELECT cross_exchange.*
FROM {cross} AS cross_exchange
JOIN (
    SELECT coin_id, vs_currency, max(minute_start) AS minute_start
    FROM {cross} GROUP BY coin_id, vs_currency
) AS newest USING (coin_id, vs_currency, minute_start)
ORDER BY cross_exchange.spread_bps DESC NULLS LAST, cross_exchange.coin_id
"""
"""Per coin, the newest minute the exchanges were compared in, widest spread first."""
