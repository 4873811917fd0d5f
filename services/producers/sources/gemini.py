"""Gemini `GET /v1/pubticker/<symbol>` -> CryptoPrice (venue `gemini`).

One pair (`btcusd`) per request, 120 requests/min. Body:
`{"bid":"78506.70000","ask":"78506.71000","last":"78531.37000",
"volume":{"BTC":"76.83286898","USD":"6033790.46","timestamp":1788856560000}}`: numbers are strings,
the volume keys are the pair's two currencies, `volume.timestamp` is Unix milliseconds (the only
time in the answer, so the observation's time). An unknown symbol is HTTP 400
`{"result":"error","reason":"InvalidSymbol"}`: a rejected record, the other pairs still produce.
"""

from __future__ import annotations

from typing import Any

from services.contract import StreamName
from services.producers.http import Fetcher, PayloadError, json_body
from services.producers.settings import CryptoSettings
from services.producers.sources.base import Parsed, PollResult, get_path, poll_each
from services.producers.sources.exchange import add_price, from_epoch_millis, object_body
from services.producers.venues import GEMINI, Listed, Listing

LABEL = GEMINI
QUOTE = "usd"


def parse_ticker(doc: Any, listed: Listed) -> Parsed:
    body = object_body(doc, f"ticker of {listed.pair}")
    if body.get("result") == "error":
        raise PayloadError(f"error object for {listed.pair}: {str(body.get('reason'))[:120]}")
    base = listed.pair.removesuffix(QUOTE).upper()
    out = Parsed()
    add_price(
        LABEL,
        listed,
        {
            "price": body.get("last"),
            "bid": body.get("bid"),
            "ask": body.get("ask"),
            "base_volume_24h": get_path(body, "volume", base),
            "volume_24h": get_path(body, "volume", QUOTE.upper()),
            "source_updated_at": from_epoch_millis(get_path(body, "volume", "timestamp")),
        },
        out,
    )
    return out


class GeminiLive:
    stream = StreamName.CRYPTO
    label = LABEL

    def __init__(self, settings: CryptoSettings, listing: Listing, fetcher: Fetcher) -> None:
        self._base = settings.gemini_base_url
        self._listing = listing
        self._fetcher = fetcher

    def poll(self) -> PollResult:
        return poll_each(
            self._listing.coins, self._one, lambda c: c.pair, self._fetcher.metrics, unlisted=("400", "404")
        )

    def _one(self, listed: Listed) -> Parsed:
        response = self._fetcher.get(f"{self._base}/v1/pubticker/{listed.pair}")
        return parse_ticker(json_body(response), listed)

    def close(self) -> None:
        """The fetcher is closed by the runner."""
