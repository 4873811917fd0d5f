"""Kraken `GET /0/public/Ticker?pair=XBTUSD,ETHUSD,...` (many pairs per request) -> CryptoPrice
(venue `kraken`).

Body: `{"error":[],"result":{"XXBTZUSD":{"a":["64547.2","4","4.000"],"b":[...],"c":["64547.2",
"0.0001"],"v":["5869.9","6253.8"],"p":[...],"t":[56856,62595],"l":[...],"h":[...],"o":"67600.0"}}`.
`a`/`b` are ask/bid `[price, whole lot volume, lot volume]`, `c` the last trade `[price, volume]`,
`v`/`l`/`h` `[today, last 24 h]`; numbers are strings. Kraken reports errors in the body, with HTTP
200 too (`{"error":["EQuery:Unknown asset pair"]}`; entries starting with W are warnings), and
answers under its canonical pair names: XBTUSD comes back as XXBTZUSD. The answer has no time, so
prices are stamped when the answer is received (`received_at`; replay passes the recorded one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.contract import StreamName
from services.producers.http import Fetcher, PayloadError, json_body
from services.producers.settings import CryptoSettings
from services.producers.sources.base import Parsed, PollResult, Rejection
from services.producers.sources.exchange import add_price, item, object_body
from services.producers.venues import KRAKEN, Listed, Listing

LABEL = KRAKEN
CANONICAL: dict[str, str] = {
    "XBTUSD": "XXBTZUSD",
    "ETHUSD": "XETHZUSD",
    "XRPUSD": "XXRPZUSD",
    "USDTUSD": "USDTZUSD",
}
"""Pairs Kraken answers under another name than the one asked for (the others keep theirs)."""
RATE_LIMITED = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests")
RATE_LIMIT_PAUSE_S = 10.0
"""Kraken's counter decays by about one request per second; give it a few before the next poll."""


def parse_ticker(doc: Any, listing: Listing, received_at: datetime) -> Parsed:
    body = object_body(doc, "ticker answer")
    errors = body.get("error")
    if not isinstance(errors, list):
        raise PayloadError(f"no `error` list in the answer (keys {sorted(body)[:6]})")
    failures = [str(e) for e in errors if not (isinstance(e, str) and e.startswith("W"))]
    if failures:
        text = "; ".join(failures)[:200]
        if any(f.startswith(RATE_LIMITED) for f in failures):
            raise PayloadError(f"kraken: {text}", status="rate_limited", wait_s=RATE_LIMIT_PAUSE_S)
        raise PayloadError(f"kraken: {text}", status="api_error")
    result = body.get("result")
    if not isinstance(result, dict):
        raise PayloadError(f"expected `result` to be an object, got {type(result).__name__}")
    by_key: dict[str, Listed] = {}
    for coin in listing.coins:
        by_key[coin.pair] = coin
        by_key[CANONICAL.get(coin.pair, coin.pair)] = coin
    out = Parsed()
    seen: set[str] = set()
    for key, rec in result.items():
        listed = by_key.get(key)
        if listed is None:
            out.rejections.append(Rejection("shape", "a pair that was not asked for", key))
            continue
        seen.add(listed.pair)
        if not isinstance(rec, dict):
            out.rejections.append(Rejection("shape", f"ticker is {type(rec).__name__}, not an object", key))
            continue
        add_price(
            LABEL,
            listed,
            {
                "price": item(rec.get("c"), 0),
                "bid": item(rec.get("b"), 0),
                "ask": item(rec.get("a"), 0),
                "base_volume_24h": item(rec.get("v"), 1),
                "high_24h": item(rec.get("h"), 1),
                "low_24h": item(rec.get("l"), 1),
                "source_updated_at": received_at,
            },
            out,
        )
    for coin in listing.coins:
        if coin.pair not in seen:
            out.rejections.append(Rejection("missing", f"no ticker for {coin.pair} in the answer", coin.pair))
    return out


class KrakenLive:
    stream = StreamName.CRYPTO
    label = LABEL

    def __init__(
        self,
        settings: CryptoSettings,
        listing: Listing,
        fetcher: Fetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = settings.kraken_base_url
        self._listing = listing
        self._fetcher = fetcher
        self._clock = clock

    def poll(self) -> PollResult:
        response = self._fetcher.get(
            f"{self._base}/0/public/Ticker", params={"pair": ",".join(c.pair for c in self._listing.coins)}
        )
        received_at = datetime.fromtimestamp(self._clock(), UTC)
        return PollResult(parse_ticker(json_body(response), self._listing, received_at))

    def close(self) -> None:
        """The fetcher is closed by the runner."""
