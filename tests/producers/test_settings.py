"""Settings: defaults, parsing, and errors that name the environment variable."""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings

from services.config import ConfigError, load
from services.producers.cities import CATALOGUE, City
from services.producers.settings import CryptoSettings, GithubSettings, ProducerSettings, WeatherSettings

ALL_VARS = (
    "PRODUCER_SOURCE",
    "POLL_INTERVAL_S",
    "SYNTHETIC_SEED",
    "HTTP_TIMEOUT_S",
    "HTTP_MAX_ATTEMPTS",
    "BACKOFF_BASE_S",
    "BACKOFF_MAX_S",
    "RETRY_AFTER_MAX_S",
    "REPLAY_MAX_AHEAD_S",
    "CRYPTO_COINS",
    "CRYPTO_VENUES",
    "COINGECKO_API_KEY",
    "COINGECKO_BASE_URL",
    "COINBASE_BASE_URL",
    "KRAKEN_BASE_URL",
    "BITSTAMP_BASE_URL",
    "GEMINI_BASE_URL",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_PER_PAGE",
    "WEATHER_CITIES",
    "OPENWEATHER_API_KEY",
    "OPEN_METEO_BASE_URL",
    "OPENWEATHER_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)


def test_defaults() -> None:
    producer = load(ProducerSettings)
    assert (producer.producer_source, producer.poll_interval_s) == ("replay", None)
    crypto = load(CryptoSettings)
    assert len(crypto.crypto_coins) == 10
    assert crypto.crypto_coins[:2] == ("bitcoin", "ethereum")
    assert crypto.coingecko_api_key is None
    assert crypto.crypto_venues == ("coingecko", "coinbase", "kraken", "bitstamp", "gemini")
    assert [crypto.base_url(v) for v in crypto.crypto_venues] == [
        "https://api.coingecko.com",
        "https://api.exchange.coinbase.com",
        "https://api.kraken.com",
        "https://www.bitstamp.net",
        "https://api.gemini.com",
    ]
    weather = load(WeatherSettings)
    ids = [c.city_id for c in weather.weather_cities]
    assert {"sao-paulo", "zurich", "tokyo"} <= set(ids)
    assert len({c.country for c in weather.weather_cities}) >= 12
    # every continent: both hemispheres and all longitudes
    assert min(c.latitude for c in weather.weather_cities) < -60
    assert max(c.latitude for c in weather.weather_cities) > 45
    assert load(GithubSettings).github_api_url == "https://api.github.com"


def test_lists_urls_and_secrets_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_COINS", " bitcoin , wrapped-bitcoin,usd-coin ")
    monkeypatch.setenv("COINGECKO_BASE_URL", "http://127.0.0.1:8080/")
    monkeypatch.setenv("COINGECKO_API_KEY", "CG-abc")
    monkeypatch.setenv(
        "WEATHER_CITIES", "tokyo,quito|Quito|EC|-0.2299|-78.5249|3652462,atlantis|Atlantis|XX|0|0"
    )
    monkeypatch.setenv("OPENWEATHER_API_KEY", "")  # blank means unset
    monkeypatch.setenv("CRYPTO_VENUES", " Kraken,gemini ")
    monkeypatch.setenv("KRAKEN_BASE_URL", "http://127.0.0.1:8081/prefix/")
    crypto = load(CryptoSettings)
    assert crypto.crypto_coins == ("bitcoin", "wrapped-bitcoin", "usd-coin")
    assert crypto.crypto_venues == ("kraken", "gemini")
    assert crypto.base_url("kraken") == "http://127.0.0.1:8081/prefix"
    assert crypto.coingecko_base_url == "http://127.0.0.1:8080"
    assert crypto.coingecko_api_key is not None
    assert crypto.coingecko_api_key.get_secret_value() == "CG-abc"
    assert "CG-abc" not in repr(crypto)
    weather = load(WeatherSettings)
    assert weather.weather_cities == (
        CATALOGUE["tokyo"],
        City("quito", "Quito", "EC", -0.2299, -78.5249, 3652462),
        City("atlantis", "Atlantis", "XX", 0.0, 0.0, None),
    )
    assert weather.openweather_api_key is None


@pytest.mark.parametrize(
    ("cls", "var", "value"),
    [
        (CryptoSettings, "CRYPTO_COINS", "BTC!"),
        (CryptoSettings, "CRYPTO_COINS", "BTC"),  # tickers are not CoinGecko ids
        (CryptoSettings, "CRYPTO_COINS", "bitcoin,bitcoin"),
        (CryptoSettings, "CRYPTO_COINS", " , "),
        (CryptoSettings, "COINGECKO_BASE_URL", "not a url"),
        (CryptoSettings, "CRYPTO_VENUES", "kraken,binance"),
        (CryptoSettings, "CRYPTO_VENUES", "kraken,kraken"),
        (CryptoSettings, "CRYPTO_VENUES", " , "),
        (CryptoSettings, "GEMINI_BASE_URL", "api.gemini.com"),
        (ProducerSettings, "POLL_INTERVAL_S", "-1"),
        (ProducerSettings, "PRODUCER_SOURCE", "scraping"),
        (ProducerSettings, "HTTP_TIMEOUT_S", "0"),
        (ProducerSettings, "HTTP_MAX_ATTEMPTS", "0"),
        (ProducerSettings, "BACKOFF_BASE_S", "fast"),
        (ProducerSettings, "REPLAY_MAX_AHEAD_S", "7200"),  # past the contract's one-hour limit
        (GithubSettings, "GITHUB_PER_PAGE", "500"),
        (GithubSettings, "GITHUB_API_URL", "ftp://example.com"),
        (WeatherSettings, "WEATHER_CITIES", "atlantis"),
        (WeatherSettings, "WEATHER_CITIES", "zurich,zurich"),
        (WeatherSettings, "WEATHER_CITIES", "x|X|XX|95|0"),
        (WeatherSettings, "WEATHER_CITIES", "x|X|Swiss|1|2"),
        (WeatherSettings, "WEATHER_CITIES", "Bad Slug|X|XX|1|2"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings], var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        load(cls)
