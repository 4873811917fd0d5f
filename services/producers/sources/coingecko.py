"""CoinGecko `/api/v3/coins/markets` -> CryptoPrice (venue `coingecko`: CoinGecko's aggregate).

Shape: a JSON array of objects (`id`, `symbol`, `name`, `current_price`, `market_cap`, `total_volume`,
`high_24h`, `low_24h`, `price_change_percentage_24h`, `last_updated` ISO-8601, plus many fields we
ignore); numbers may be null. Error bodies are objects (`{"status": {"error_code": 429, ...}}`,
`{"error": "..."}`), which is a PayloadError, not a list of bad records.
"""

from __future__ import annotations

from typing import Any

from services.contract import CryptoPrice, StreamName
from services.producers.http import Fetcher, PayloadError, json_body
from services.producers.settings import CryptoSettings
from services.producers.sources.base import Parsed, PollResult, Rejection, build
from services.producers.venues import COINGECKO, Listing

LABEL = COINGECKO


def parse_markets(doc: Any) -> Parsed:
    if not isinstance(doc, list):
        raise PayloadError(f"expected a JSON array of coins, got {_describe(doc)}")
    out = Parsed()
    for index, rec in enumerate(doc):
        if not isinstance(rec, dict):
            out.rejections.append(Rejection("shape", f"item {index} is {type(rec).__name__}, not an object"))
            continue
        coin = rec.get("id")
        record_id = coin if isinstance(coin, str) else f"#{index}"
        symbol = rec.get("symbol")
        payload = build(
            CryptoPrice,
            {
                "venue": LABEL,
                "coin_id": coin,
                # CoinGecko tickers are lower-case already; normalise in case a mirror is not.
                "symbol": symbol.lower() if isinstance(symbol, str) else symbol,
                "name": rec.get("name"),
                "vs_currency": "usd",
                "price": rec.get("current_price"),
                "market_cap": rec.get("market_cap"),
                "volume_24h": rec.get("total_volume"),
                "high_24h": rec.get("high_24h"),
                "low_24h": rec.get("low_24h"),
                "change_pct_24h": rec.get("price_change_percentage_24h"),
                "source_updated_at": rec.get("last_updated"),
            },
            record_id,
            out.rejections,
        )
        if payload is not None:
            out.records.append(payload)
    return out


def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        status = doc.get("status")
        if isinstance(status, dict) and "error_message" in status:
            return f"an error object: {str(status.get('error_message'))[:120]}"
        if "error" in doc:
            return f"an error object: {str(doc['error'])[:120]}"
        return f"an object with keys {sorted(doc)[:8]}"
    return type(doc).__name__


class CoinGeckoLive:
    stream = StreamName.CRYPTO
    label = LABEL

    def __init__(self, settings: CryptoSettings, listing: Listing, fetcher: Fetcher) -> None:
        self._settings = settings
        self._coins = listing.coin_ids()
        self._fetcher = fetcher
        self._headers: dict[str, str] = {}
        if settings.coingecko_api_key is not None:
            self._headers["x-cg-demo-api-key"] = settings.coingecko_api_key.get_secret_value()

    def poll(self) -> PollResult:
        response = self._fetcher.get(
            f"{self._settings.coingecko_base_url}/api/v3/coins/markets",
            params={
                "vs_currency": "usd",
                "ids": ",".join(self._coins),
                "per_page": str(min(250, len(self._coins))),
                "page": "1",
            },
            headers=self._headers,
        )
        return PollResult(parse_markets(json_body(response)))

    def close(self) -> None:
        """The fetcher is closed by the runner."""
