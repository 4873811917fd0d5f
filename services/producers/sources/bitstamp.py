"""Bitstamp `GET /api/v2/ticker/` (every pair in one request) -> CryptoPrice (venue `bitstamp`).

Body: a JSON array, one object per pair: `{"pair":"BTC/USD","timestamp":"1791193016",
"last":"85864.00","bid":"85864.00","ask":"85864.01","volume":"1277.88750357","high":"86968.58",
"low":"85090.60","open_24":"85200.65","percent_change_24":"0.78",...}`: everything is a string, the
timestamp is Unix seconds, volume is in coins over 24 h. About 8,000 requests per 10 minutes are
allowed; one per poll is all we need. Pairs we do not follow are ignored; a followed pair missing
from the answer is a rejection (delisted, or a partial answer). Errors are objects
(`{"status":"error","reason":...}`), a PayloadError.
"""

from __future__ import annotations

from typing import Any

from services.contract import StreamName
from services.producers.http import Fetcher, PayloadError, json_body
from services.producers.settings import CryptoSettings
from services.producers.sources.base import Parsed, PollResult, Rejection
from services.producers.sources.exchange import add_price, from_epoch_seconds
from services.producers.venues import BITSTAMP, Listing

LABEL = BITSTAMP


def parse_tickers(doc: Any, listing: Listing) -> Parsed:
    if not isinstance(doc, list):
        what = f"an object with keys {sorted(doc)[:6]}" if isinstance(doc, dict) else type(doc).__name__
        raise PayloadError(f"expected a JSON array of tickers, got {what}")
    wanted = listing.by_pair()
    out = Parsed()
    seen: set[str] = set()
    for index, rec in enumerate(doc):
        if not isinstance(rec, dict):
            out.rejections.append(Rejection("shape", f"item {index} is {type(rec).__name__}, not an object"))
            continue
        listed = wanted.get(rec.get("pair"))  # type: ignore[arg-type]
        if listed is None or listed.pair in seen:
            continue
        seen.add(listed.pair)
        add_price(
            LABEL,
            listed,
            {
                "price": rec.get("last"),
                "bid": rec.get("bid"),
                "ask": rec.get("ask"),
                "base_volume_24h": rec.get("volume"),
                "high_24h": rec.get("high"),
                "low_24h": rec.get("low"),
                "change_pct_24h": rec.get("percent_change_24"),
                "source_updated_at": from_epoch_seconds(rec.get("timestamp")),
            },
            out,
        )
    for pair in wanted.keys() - seen:
        out.rejections.append(Rejection("missing", f"no ticker for {pair} in the answer", pair))
    return out


class BitstampLive:
    stream = StreamName.CRYPTO
    label = LABEL

    def __init__(self, settings: CryptoSettings, listing: Listing, fetcher: Fetcher) -> None:
        self._base = settings.bitstamp_base_url
        self._listing = listing
        self._fetcher = fetcher

    def poll(self) -> PollResult:
        response = self._fetcher.get(f"{self._base}/api/v2/ticker/")
        return PollResult(parse_tickers(json_body(response), self._listing))

    def close(self) -> None:
        """The fetcher is closed by the runner."""
