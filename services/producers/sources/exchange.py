"""What the four exchange parsers share: building a CryptoPrice from one ticker, and the exchanges'
ways of writing times.

Exchanges send numbers as strings ("63212.97"); the payload models are built in pydantic's lax
mode, which converts them (and refuses "abc", "NaN" and "" with a clear error). They name no coin,
so symbol and name come from the coin catalogue (venues.py). `price` is the last trade, `bid`/`ask`
the top of the book, `base_volume_24h` the 24 h volume in coins; none of them reports a market cap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.contract import CryptoPrice
from services.producers.http import PayloadError
from services.producers.sources.base import Parsed, Rejection, build
from services.producers.venues import Listed, Listing

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d{6})\d+")


def add_price(venue: str, listed: Listed, fields: Mapping[str, Any], out: Parsed) -> None:
    """Validate one ticker as a CryptoPrice of `venue`; a bad one becomes a rejection."""
    payload = build(
        CryptoPrice,
        {
            "venue": venue,
            "coin_id": listed.coin_id,
            "symbol": listed.coin.symbol,
            "name": listed.coin.name,
            "vs_currency": "usd",
            **fields,
        },
        f"{listed.coin_id} ({listed.pair})",
        out.rejections,
    )
    if payload is not None:
        out.records.append(payload)


def from_epoch_seconds(value: Any) -> Any:
    """Unix seconds, as a number or a digit string ("1791193016"), to a datetime; anything else is
    returned unchanged so that validation reports it."""
    return _from_epoch(value, 1)


def from_epoch_millis(value: Any) -> Any:
    """Unix milliseconds (Gemini) to a datetime, exactly (integer arithmetic)."""
    return _from_epoch(value, 1000)


def _from_epoch(value: Any, per_second: int) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return EPOCH + timedelta(microseconds=value * (1_000_000 // per_second))
    return value


def truncate_to_micros(value: Any) -> Any:
    """An RFC 3339 time with more than six fractional digits (Coinbase sends nanoseconds) cut to
    microseconds, what the contract and PostgreSQL's timestamptz keep."""
    return _FRACTION.sub(r"\1", value, count=1) if isinstance(value, str) else value


def item(value: Any, index: int) -> Any:
    """value[index] of a JSON array (Kraken's `[price, volume]` pairs), None when absent."""
    return value[index] if isinstance(value, list) and len(value) > index else None


def object_body(doc: Any, what: str) -> dict[str, Any]:
    """The body as an object, or PayloadError naming what came instead."""
    if not isinstance(doc, dict):
        raise PayloadError(f"expected a JSON object ({what}), got {type(doc).__name__}")
    return doc


def parse_recorded(bodies: Any, listing: Listing, parse_one: Callable[[Any, Listed], Parsed]) -> Parsed:
    """A recorded poll of a one-pair-per-request API: {pair: body as received}. Pairs the listing
    does not cover are ignored; an unreadable body is a rejection of its pair."""
    out = Parsed()
    for listed in listing.coins:
        if listed.pair not in bodies:
            continue
        try:
            out.extend(parse_one(bodies[listed.pair], listed))
        except PayloadError as exc:
            out.rejections.append(Rejection("shape", str(exc), listed.pair))
    return out
