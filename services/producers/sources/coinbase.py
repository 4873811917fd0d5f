"""Coinbase Exchange `GET /products/<product>/ticker` -> CryptoPrice (venue `coinbase`).

One product (`BTC-USD`) per request, 10 requests/s per IP. Body:
`{"ask":"63212.98","bid":"63212.97","volume":"4916.94797396","trade_id":1040406588,
"price":"63212.97","size":"0.00782662","time":"2026-06-19T16:43:33.016274911Z","rfq_volume":"31.6"}`:
numbers are strings, `price` is the last trade, `volume` the 24 h volume in coins, `time` the last
trade's time with nanoseconds. An unknown product is HTTP 404 `{"message":"NotFound"}`: a rejected
record, the other products still produce.
"""

from __future__ import annotations

from typing import Any

from services.contract import StreamName
from services.producers.http import Fetcher, PayloadError, json_body
from services.producers.settings import CryptoSettings
from services.producers.sources.base import Parsed, PollResult, poll_each
from services.producers.sources.exchange import add_price, object_body, truncate_to_micros
from services.producers.venues import COINBASE, Listed, Listing

LABEL = COINBASE


def parse_ticker(doc: Any, listed: Listed) -> Parsed:
    body = object_body(doc, f"ticker of {listed.pair}")
    if "price" not in body and "message" in body:
        raise PayloadError(f"error object for {listed.pair}: {str(body['message'])[:120]}")
    out = Parsed()
    add_price(
        LABEL,
        listed,
        {
            "price": body.get("price"),
            "bid": body.get("bid"),
            "ask": body.get("ask"),
            "base_volume_24h": body.get("volume"),
            "source_updated_at": truncate_to_micros(body.get("time")),
        },
        out,
    )
    return out


class CoinbaseLive:
    stream = StreamName.CRYPTO
    label = LABEL

    def __init__(self, settings: CryptoSettings, listing: Listing, fetcher: Fetcher) -> None:
        self._base = settings.coinbase_base_url
        self._listing = listing
        self._fetcher = fetcher

    def poll(self) -> PollResult:
        return poll_each(
            self._listing.coins, self._one, lambda c: c.pair, self._fetcher.metrics, unlisted=("404",)
        )

    def _one(self, listed: Listed) -> Parsed:
        response = self._fetcher.get(f"{self._base}/products/{listed.pair}/ticker")
        return parse_ticker(json_body(response), listed)

    def close(self) -> None:
        """The fetcher is closed by the runner."""
