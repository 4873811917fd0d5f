"""Payload models: what each topic carries inside the envelope.

Identifier-like fields are constrained by patterns, so garbage or SQL-looking strings in them are
rejected (and dead-lettered by the sink). Free-text fields (city names, descriptions) accept any
Unicode; they are only ever bound as SQL parameters. Ranges encode physical plausibility. Values are
never changed on the way in (no whitespace stripping, no type coercion on the sink's path: see
types.py); producers normalise what they read from the APIs before building a model.

Versions: `CryptoPrice` is version 2 of the crypto payload (it records the venue); version 1
(`CryptoPriceV1`, CoinGecko's aggregate only) is still accepted by the sink and upgraded on the way
in (streams.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.contract.types import Bool, Float, Int, Timestamp

_MODEL = ConfigDict(frozen=True, extra="forbid")

# CoinGecko ids ("bitcoin", "usd-coin", "wrapped-bitcoin") and tickers ("btc").
COIN_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
SYMBOL = r"^[a-z0-9.]{1,20}$"
CURRENCY = r"^[a-z]{3,5}$"
# GitHub logins: alphanumeric and single hyphens, max 39; bots end in "[bot]".
LOGIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$"
REPO_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"
EVENT_TYPE = r"^[A-Z][A-Za-z]{1,60}Event$"
CITY_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
# Where a price was observed: an exchange (coinbase, kraken, ...) or CoinGecko's aggregate.
VENUE = r"^[a-z0-9][a-z0-9-]{0,40}$"
MAX_PRICE = 1e12
BIGINT_MAX = 2**63 - 1
"""Integer ids are stored as PostgreSQL bigint."""


class CryptoPrice(BaseModel):
    """One coin's price at one venue in one quote currency (crypto_prices version 2)."""

    model_config = _MODEL

    venue: str = Field(
        pattern=VENUE, description="where it was observed: coingecko (aggregate), coinbase, kraken, ..."
    )
    coin_id: str = Field(pattern=COIN_ID, description="CoinGecko coin id, e.g. 'bitcoin'")
    symbol: str = Field(pattern=SYMBOL)
    name: str = Field(min_length=1, max_length=200)
    vs_currency: str = Field("usd", pattern=CURRENCY)
    price: Float = Field(gt=0, lt=MAX_PRICE, description="last trade (exchanges) or aggregate price")
    bid: Float | None = Field(None, gt=0, lt=MAX_PRICE, description="best bid (exchanges)")
    ask: Float | None = Field(None, gt=0, lt=MAX_PRICE, description="best ask (exchanges)")
    market_cap: Float | None = Field(None, ge=0)
    volume_24h: Float | None = Field(None, ge=0, description="24 h volume in the quote currency")
    base_volume_24h: Float | None = Field(None, ge=0, description="24 h volume in coins (exchanges)")
    high_24h: Float | None = Field(None, gt=0)
    low_24h: Float | None = Field(None, gt=0)
    change_pct_24h: Float | None = Field(None, ge=-100, le=1e6)
    source_updated_at: Timestamp = Field(description="when the venue last updated the price")


class CryptoPriceV1(BaseModel):
    """crypto_prices version 1: CoinGecko's aggregate, before venues. Accepted and upgraded by the
    sink (venue 'coingecko'); no longer produced."""

    model_config = _MODEL

    coin_id: str = Field(pattern=COIN_ID, description="CoinGecko coin id, e.g. 'bitcoin'")
    symbol: str = Field(pattern=SYMBOL)
    name: str = Field(min_length=1, max_length=200)
    vs_currency: str = Field("usd", pattern=CURRENCY)
    price: Float = Field(gt=0, lt=MAX_PRICE)
    market_cap: Float | None = Field(None, ge=0)
    volume_24h: Float | None = Field(None, ge=0)
    high_24h: Float | None = Field(None, gt=0)
    low_24h: Float | None = Field(None, gt=0)
    change_pct_24h: Float | None = Field(None, ge=-100, le=1e6)
    source_updated_at: Timestamp = Field(description="when the source last updated the price")

    def upgrade(self) -> CryptoPrice:
        """Version 1 came from CoinGecko's aggregate only."""
        return CryptoPrice(venue="coingecko", **self.model_dump())


class GithubEvent(BaseModel):
    """One public GitHub event; `payload` is kept whole because its shape varies by type."""

    model_config = _MODEL

    event_id: str = Field(pattern=r"^[0-9]{1,20}$")
    event_type: str = Field(pattern=EVENT_TYPE)
    actor_id: Int = Field(ge=0, le=BIGINT_MAX)
    actor_login: str = Field(pattern=LOGIN)
    repo_id: Int = Field(ge=0, le=BIGINT_MAX)
    repo_name: str = Field(pattern=REPO_NAME)
    org_login: str | None = Field(None, pattern=LOGIN)
    action: str | None = Field(None, max_length=64, pattern=r"^[a-z_]+$")
    public: Bool = True
    created_at: Timestamp
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="the event's own payload, any JSON object; stored exactly as received",
    )


class WeatherObservation(BaseModel):
    """Current conditions for one city at one observation time (metric units)."""

    model_config = _MODEL

    city_id: str = Field(pattern=CITY_ID, description="stable slug, e.g. 'sao-paulo'")
    city_name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    latitude: Float = Field(ge=-90, le=90)
    longitude: Float = Field(ge=-180, le=180)
    observed_at: Timestamp
    temperature_c: Float = Field(ge=-95, le=65)
    apparent_temperature_c: Float | None = Field(None, ge=-110, le=80)
    humidity_pct: Float = Field(ge=0, le=100)
    pressure_hpa: Float | None = Field(None, ge=850, le=1100)
    wind_speed_ms: Float | None = Field(None, ge=0, le=120)
    rain_mm: Float | None = Field(None, ge=0, le=500)
    weather_code: Int | None = Field(None, ge=0, le=999)
    condition: str | None = Field(None, max_length=200, description="e.g. 'Clouds', 'Rain'")
