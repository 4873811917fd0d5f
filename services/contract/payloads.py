"""Payload models: what each topic carries inside the envelope.

Identifier-like fields are constrained by patterns, so garbage or SQL-looking strings in them are
rejected (and dead-lettered by the sink). Free-text fields (city names, descriptions) accept any
Unicode; they are only ever bound as SQL parameters. Ranges encode physical plausibility.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_MODEL = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

# CoinGecko ids ("bitcoin", "usd-coin", "wrapped-bitcoin") and tickers ("btc").
COIN_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
SYMBOL = r"^[a-z0-9.]{1,20}$"
CURRENCY = r"^[a-z]{3,5}$"
# GitHub logins: alphanumeric and single hyphens, max 39; bots end in "[bot]".
LOGIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$"
REPO_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"
EVENT_TYPE = r"^[A-Z][A-Za-z]{1,60}Event$"
CITY_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"


class CryptoPrice(BaseModel):
    """One coin's market snapshot in one quote currency."""

    model_config = _MODEL

    coin_id: str = Field(pattern=COIN_ID, description="CoinGecko coin id, e.g. 'bitcoin'")
    symbol: str = Field(pattern=SYMBOL)
    name: str = Field(min_length=1, max_length=200)
    vs_currency: str = Field("usd", pattern=CURRENCY)
    price: float = Field(gt=0, lt=1e12, allow_inf_nan=False)
    market_cap: float | None = Field(None, ge=0, allow_inf_nan=False)
    volume_24h: float | None = Field(None, ge=0, allow_inf_nan=False)
    high_24h: float | None = Field(None, gt=0, allow_inf_nan=False)
    low_24h: float | None = Field(None, gt=0, allow_inf_nan=False)
    change_pct_24h: float | None = Field(None, ge=-100, le=1e6, allow_inf_nan=False)
    source_updated_at: AwareDatetime = Field(description="when the source last updated the price")


class GithubEvent(BaseModel):
    """One public GitHub event; `payload` is kept whole because its shape varies by type."""

    model_config = _MODEL

    event_id: str = Field(pattern=r"^[0-9]{1,20}$")
    event_type: str = Field(pattern=EVENT_TYPE)
    actor_id: int = Field(ge=0)
    actor_login: str = Field(pattern=LOGIN)
    repo_id: int = Field(ge=0)
    repo_name: str = Field(pattern=REPO_NAME)
    org_login: str | None = Field(None, pattern=LOGIN)
    action: str | None = Field(None, max_length=64, pattern=r"^[a-z_]+$")
    public: bool = True
    created_at: AwareDatetime
    payload: dict[str, Any] = Field(default_factory=dict)


class WeatherObservation(BaseModel):
    """Current conditions for one city at one observation time (metric units)."""

    model_config = _MODEL

    city_id: str = Field(pattern=CITY_ID, description="stable slug, e.g. 'sao-paulo'")
    city_name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    observed_at: AwareDatetime
    temperature_c: float = Field(ge=-95, le=65, allow_inf_nan=False)
    apparent_temperature_c: float | None = Field(None, ge=-110, le=80, allow_inf_nan=False)
    humidity_pct: float = Field(ge=0, le=100, allow_inf_nan=False)
    pressure_hpa: float | None = Field(None, ge=850, le=1100, allow_inf_nan=False)
    wind_speed_ms: float | None = Field(None, ge=0, le=120, allow_inf_nan=False)
    rain_mm: float | None = Field(None, ge=0, le=500, allow_inf_nan=False)
    weather_code: int | None = Field(None, ge=0, le=999)
    condition: str | None = Field(None, max_length=200, description="e.g. 'Clouds', 'Rain'")
