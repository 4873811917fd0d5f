"""Where crypto prices come from: the venues, how fast we may ask them, and the one coin catalogue.

`CRYPTO_COINS` names coins by CoinGecko id. CoinGecko's aggregate covers any id; an exchange
covers the coins this catalogue maps to one of its USD pairs, spelled the way its API wants it.
A coin an exchange does not list is skipped for that exchange (said once in the log by `plan`).
The listings are the exchanges' USD spot books as of 2026; a delisted pair shows up as a rejected
record (Coinbase/Gemini answer 404/400) or a failed Kraken poll, and is fixed here.

Request pacing: each venue's requests (retries included) are spaced by `min_request_interval_s`,
half of the published limit, so that another client on the same IP (a second pod, a developer's
shell) still has room. Requests per poll: CoinGecko 1, Coinbase one per product, Kraken 1 (all
pairs), Bitstamp 1 (all pairs), Gemini one per pair.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from services.config import ConfigError

log = logging.getLogger(__name__)

COINGECKO: Final = "coingecko"
COINBASE: Final = "coinbase"
KRAKEN: Final = "kraken"
BITSTAMP: Final = "bitstamp"
GEMINI: Final = "gemini"


@dataclass(frozen=True)
class Venue:
    name: str
    """The payload's `venue` and, for live and replay data, the envelope's `source`."""
    exchange: bool
    """False for CoinGecko: an aggregate of many exchanges, not a market one can trade on."""
    published_limit: str
    min_request_interval_s: float


VENUES: Final[dict[str, Venue]] = {
    v.name: v
    for v in (
        # As before venues existed: one request per poll, nothing to pace.
        Venue(COINGECKO, False, "keyless: a few calls/min per IP; demo key: 100/min", 0.0),
        Venue(COINBASE, True, "10 requests/s per IP, one product per request", 0.2),
        Venue(KRAKEN, True, "about 1 request/s, many pairs per request", 2.0),
        Venue(BITSTAMP, True, "8,000 requests per 10 min, all pairs in one request", 0.15),
        Venue(GEMINI, True, "120 requests/min, one pair per request", 1.0),
    )
}
DEFAULT_VENUES: Final = tuple(VENUES)


@dataclass(frozen=True)
class Coin:
    symbol: str
    name: str
    pairs: Mapping[str, str]
    """Exchange -> its USD pair: Coinbase product id, Kraken pair, Bitstamp `pair`, Gemini symbol."""


COINS: Final[dict[str, Coin]] = {
    "bitcoin": Coin(
        "btc", "Bitcoin", {COINBASE: "BTC-USD", KRAKEN: "XBTUSD", BITSTAMP: "BTC/USD", GEMINI: "btcusd"}
    ),
    "ethereum": Coin(
        "eth", "Ethereum", {COINBASE: "ETH-USD", KRAKEN: "ETHUSD", BITSTAMP: "ETH/USD", GEMINI: "ethusd"}
    ),
    "tether": Coin("usdt", "Tether", {COINBASE: "USDT-USD", KRAKEN: "USDTUSD", BITSTAMP: "USDT/USD"}),
    "binancecoin": Coin("bnb", "BNB", {}),
    "solana": Coin(
        "sol", "Solana", {COINBASE: "SOL-USD", KRAKEN: "SOLUSD", BITSTAMP: "SOL/USD", GEMINI: "solusd"}
    ),
    "ripple": Coin(
        "xrp", "XRP", {COINBASE: "XRP-USD", KRAKEN: "XRPUSD", BITSTAMP: "XRP/USD", GEMINI: "xrpusd"}
    ),
    # Coinbase has no USDC-USD book: USDC converts 1:1 to USD there.
    "usd-coin": Coin("usdc", "USDC", {KRAKEN: "USDCUSD", BITSTAMP: "USDC/USD"}),
    "cardano": Coin("ada", "Cardano", {COINBASE: "ADA-USD", KRAKEN: "ADAUSD", BITSTAMP: "ADA/USD"}),
    # Kraken still calls Dogecoin XDG.
    "dogecoin": Coin(
        "doge", "Dogecoin", {COINBASE: "DOGE-USD", KRAKEN: "XDGUSD", BITSTAMP: "DOGE/USD", GEMINI: "dogeusd"}
    ),
    "tron": Coin("trx", "TRON", {KRAKEN: "TRXUSD"}),
}


_UNLISTED: Final = Coin("", "", {})
"""A coin the catalogue does not know: only CoinGecko covers it."""


@dataclass(frozen=True)
class Listed:
    coin_id: str
    coin: Coin
    pair: str


@dataclass(frozen=True)
class Listing:
    """The configured coins one venue covers, in configuration order."""

    venue: str
    coins: tuple[Listed, ...]

    def by_pair(self) -> dict[str, Listed]:
        return {c.pair: c for c in self.coins}

    def coin_ids(self) -> tuple[str, ...]:
        return tuple(c.coin_id for c in self.coins)


def listing(venue: str, coins: Sequence[str]) -> tuple[Listing, list[str]]:
    """(what `venue` covers of `coins`, the coins it skips)."""
    if venue == COINGECKO:
        # CoinGecko's own ids: it covers every coin, and its answer carries symbol and name.
        return Listing(venue, tuple(Listed(c, COINS.get(c, _UNLISTED), c) for c in coins)), []
    listed = [
        Listed(c, COINS[c], COINS[c].pairs[venue]) for c in coins if venue in COINS.get(c, _UNLISTED).pairs
    ]
    skipped = [c for c in coins if venue not in COINS.get(c, _UNLISTED).pairs]
    return Listing(venue, tuple(listed)), skipped


def plan(venues: Sequence[str], coins: Sequence[str]) -> list[Listing]:
    """The listing of every configured venue that covers at least one configured coin.

    Logs, once, what each venue skips; raises ConfigError when no venue covers any coin."""
    out = []
    for venue in venues:
        found, skipped = listing(venue, coins)
        if skipped:
            log.warning(
                "venue does not list these coins; skipped for it",
                extra={"venue": venue, "coins": skipped, "listed": list(found.coin_ids())},
            )
        if found.coins:
            out.append(found)
    if not out:
        raise ConfigError(
            f"CRYPTO_COINS / CRYPTO_VENUES: none of the venues {', '.join(venues)} lists any of "
            f"{', '.join(coins)} (see services/producers/venues.py for the pairs each exchange lists)"
        )
    return out
