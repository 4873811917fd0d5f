"""Producer settings: one frozen, typed object per concern, each field naming its environment variable.

Build them with `services.config.load(...)` so a bad value fails at start-up with a ConfigError that
names the variable (the CLI maps it to exit code 2). Secrets are `SecretStr` and never logged.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.contract.payloads import COIN_ID
from services.producers.cities import DEFAULT_CITIES, City, parse_cities
from services.producers.venues import DEFAULT_VENUES, VENUES

_BASE = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)
_URL = r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$"

SourceMode = Literal["live", "replay", "synthetic"]

DEFAULT_COINS = "bitcoin,ethereum,tether,binancecoin,solana,ripple,usd-coin,cardano,dogecoin,tron"
_COIN = re.compile(COIN_ID)


def _blank_is_none(value: object) -> object:
    """`FOO_API_KEY=` in a .env file means "not set", not "an empty key"."""
    return None if isinstance(value, str) and not value.strip() else value


class ProducerSettings(BaseSettings):
    """How every producer runs, whatever its source."""

    model_config = SettingsConfigDict(**_BASE)

    producer_source: SourceMode = "replay"
    """PRODUCER_SOURCE: live (HTTP APIs), replay (bundled recordings) or synthetic (seeded generator)."""
    poll_interval_s: float | None = Field(None, ge=0, le=86_400)
    """POLL_INTERVAL_S: seconds between polls; unset = the source's default (60 s live/replay)."""
    synthetic_seed: int = Field(42, ge=0)
    """SYNTHETIC_SEED: seed of the synthetic generator (same seed and start time -> same messages)."""
    http_timeout_s: float = Field(10.0, gt=0, le=300)
    """HTTP_TIMEOUT_S: connect/read timeout of one API request."""
    http_max_attempts: int = Field(5, ge=1, le=20)
    """HTTP_MAX_ATTEMPTS: tries per poll on 429/5xx/timeouts before giving up until the next poll."""
    backoff_base_s: float = Field(1.0, gt=0, le=600)
    """BACKOFF_BASE_S: first retry waits up to this long (full jitter, doubling per attempt)."""
    backoff_max_s: float = Field(60.0, gt=0, le=3600)
    """BACKOFF_MAX_S: cap on one jittered backoff sleep."""
    retry_after_max_s: float = Field(900.0, gt=0, le=86_400)
    """RETRY_AFTER_MAX_S: cap on honouring a server's Retry-After / rate-limit reset within a poll."""
    replay_max_ahead_s: float = Field(900.0, ge=0, le=3000)
    """REPLAY_MAX_AHEAD_S: replay/synthetic data may run this far ahead of the wall clock, no further
    (the contract rejects timestamps more than an hour in the future)."""


class CryptoSettings(BaseSettings):
    model_config = SettingsConfigDict(**_BASE)

    crypto_coins: Annotated[tuple[str, ...], NoDecode] = Field(
        tuple(DEFAULT_COINS.split(",")), min_length=1, max_length=250
    )
    """CRYPTO_COINS: comma-separated CoinGecko coin ids (e.g. bitcoin,ethereum; not tickers like BTC)."""
    coingecko_api_key: SecretStr | None = None
    """COINGECKO_API_KEY: optional demo key, sent as the x-cg-demo-api-key header."""
    crypto_venues: Annotated[tuple[str, ...], NoDecode] = Field(DEFAULT_VENUES, min_length=1)
    """CRYPTO_VENUES: comma-separated venues polled by the one crypto producer process (coingecko,
    coinbase, kraken, bitstamp, gemini; default all five)."""
    coingecko_base_url: str = Field("https://api.coingecko.com", pattern=_URL)
    """COINGECKO_BASE_URL: scheme://host[/prefix] of the CoinGecko API."""
    coinbase_base_url: str = Field("https://api.exchange.coinbase.com", pattern=_URL)
    """COINBASE_BASE_URL: the Coinbase Exchange REST API."""
    kraken_base_url: str = Field("https://api.kraken.com", pattern=_URL)
    """KRAKEN_BASE_URL: the Kraken REST API."""
    bitstamp_base_url: str = Field("https://www.bitstamp.net", pattern=_URL)
    """BITSTAMP_BASE_URL: the Bitstamp site (the API lives under /api/v2)."""
    gemini_base_url: str = Field("https://api.gemini.com", pattern=_URL)
    """GEMINI_BASE_URL: the Gemini REST API."""

    @field_validator("crypto_coins", mode="before")
    @classmethod
    def _split_coins(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, tuple | list):
            for coin in value:
                if not isinstance(coin, str) or not _COIN.match(coin):
                    raise ValueError(f"{coin!r} is not a CoinGecko coin id (lower-case, e.g. 'bitcoin')")
            if len(set(value)) != len(value):
                raise ValueError("coin ids must be unique")
        return value

    @field_validator("crypto_venues", mode="before")
    @classmethod
    def _split_venues(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(v.strip().lower() for v in value.split(",") if v.strip())
        if isinstance(value, tuple | list):
            unknown = [v for v in value if v not in VENUES]
            if unknown:
                raise ValueError(
                    f"unknown venue(s) {', '.join(map(str, unknown))}; known: {', '.join(VENUES)}"
                )
            if len(set(value)) != len(value):
                raise ValueError("venues must be unique")
        return value

    @field_validator("coingecko_api_key", mode="before")
    @classmethod
    def _key(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator(
        "coingecko_base_url", "coinbase_base_url", "kraken_base_url", "bitstamp_base_url", "gemini_base_url"
    )
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def base_url(self, venue: str) -> str:
        urls = {
            "coingecko": self.coingecko_base_url,
            "coinbase": self.coinbase_base_url,
            "kraken": self.kraken_base_url,
            "bitstamp": self.bitstamp_base_url,
            "gemini": self.gemini_base_url,
        }
        return urls[venue]


class GithubSettings(BaseSettings):
    model_config = SettingsConfigDict(**_BASE)

    github_token: SecretStr | None = None
    """GITHUB_TOKEN: optional token (Authorization: Bearer), 5,000 instead of 60 requests/hour."""
    github_api_url: str = Field("https://api.github.com", pattern=_URL)
    """GITHUB_API_URL: base URL of the GitHub REST API."""
    github_per_page: int = Field(100, ge=1, le=100)
    """GITHUB_PER_PAGE: events per request (the API caps it at 100)."""

    @field_validator("github_token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("github_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class WeatherSettings(BaseSettings):
    model_config = SettingsConfigDict(**_BASE)

    weather_cities: Annotated[tuple[City, ...], NoDecode] = Field(parse_cities(DEFAULT_CITIES))
    """WEATHER_CITIES: comma-separated city slugs (see cities.CATALOGUE) or slug|Name|CC|lat|lon[|owm_id]."""
    openweather_api_key: SecretStr | None = None
    """OPENWEATHER_API_KEY: when set, live mode uses OpenWeatherMap instead of Open-Meteo."""
    open_meteo_base_url: str = Field("https://api.open-meteo.com", pattern=_URL)
    """OPEN_METEO_BASE_URL."""
    openweather_base_url: str = Field("https://api.openweathermap.org", pattern=_URL)
    """OPENWEATHER_BASE_URL."""

    @field_validator("weather_cities", mode="before")
    @classmethod
    def _cities(cls, value: object) -> object:
        return parse_cities(value) if isinstance(value, str) else value

    @field_validator("openweather_api_key", mode="before")
    @classmethod
    def _key(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("open_meteo_base_url", "openweather_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")
