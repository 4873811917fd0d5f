"""Parsers against the real API shapes (shared/reference/api-shapes.md and the bundled recordings)."""

from __future__ import annotations

import contextlib
import copy
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from services.contract import CryptoPrice, GithubEvent, WeatherObservation
from services.producers.cities import CATALOGUE
from services.producers.http import PayloadError
from services.producers.replay import load_fixtures, openweathermap_fixture
from services.producers.sources.coingecko import parse_markets
from services.producers.sources.github import parse_events
from services.producers.sources.weather import parse_open_meteo, parse_openweathermap

# --- CoinGecko ------------------------------------------------------------------------------------------

BITCOIN = {
    "id": "bitcoin",
    "symbol": "btc",
    "name": "Bitcoin",
    "current_price": 56875,
    "market_cap": 1124527674971,
    "total_volume": 34496456931,
    "high_24h": 57897,
    "low_24h": 54599,
    "price_change_percentage_24h": 4.14901,
    "roi": None,
    "last_updated": "2024-09-10T05:48:22.508Z",
}


def test_coingecko_reference_row_maps_every_field() -> None:
    parsed = parse_markets([BITCOIN])
    assert parsed.rejections == []
    [price] = parsed.records
    assert isinstance(price, CryptoPrice)
    assert price.model_dump() == {
        "venue": "coingecko",
        "coin_id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
        "vs_currency": "usd",
        "price": 56875.0,
        "bid": None,  # an aggregate has no order book
        "ask": None,
        "market_cap": 1124527674971.0,
        "volume_24h": 34496456931.0,
        "base_volume_24h": None,
        "high_24h": 57897.0,
        "low_24h": 54599.0,
        "change_pct_24h": 4.14901,
        "source_updated_at": datetime(2024, 9, 10, 5, 48, 22, 508000, tzinfo=UTC),
    }


def test_coingecko_nulls_missing_and_extra_fields_are_fine() -> None:
    row: dict[str, Any] = {**BITCOIN, "market_cap": None, "high_24h": None, "image": "x", "ath": 1.0}
    del row["total_volume"]
    del row["price_change_percentage_24h"]
    [price] = parse_markets([row]).records
    assert isinstance(price, CryptoPrice)
    assert (price.market_cap, price.volume_24h, price.high_24h, price.change_pct_24h) == (
        None,
        None,
        None,
        None,
    )


def test_coingecko_one_bad_record_among_good_ones() -> None:
    bad_price = {**BITCOIN, "id": "deadcoin", "current_price": None}
    bad_id = {**BITCOIN, "id": "BTC!"}
    no_time = {**BITCOIN, "id": "ethereum"}
    del no_time["last_updated"]
    parsed = parse_markets([BITCOIN, bad_price, "garbage", bad_id, no_time, {**BITCOIN, "id": "solana"}])
    assert [p.coin_id for p in parsed.records] == ["bitcoin", "solana"]  # type: ignore[attr-defined]
    reasons = [(r.reason, r.record_id) for r in parsed.rejections]
    assert reasons == [("invalid", "deadcoin"), ("shape", None), ("invalid", "BTC!"), ("invalid", "ethereum")]
    assert "price" in parsed.rejections[0].detail
    assert "source_updated_at" in parsed.rejections[3].detail


@pytest.mark.parametrize(
    "body",
    [
        {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}},
        {"error": "coin not found"},
        "just a string",
        None,
    ],
)
def test_coingecko_error_bodies_are_payload_errors(body: Any) -> None:
    with pytest.raises(PayloadError):
        parse_markets(body)


def test_coingecko_recordings_parse_cleanly() -> None:
    for doc in load_fixtures("coingecko"):
        parsed = parse_markets(doc)
        assert parsed.rejections == []
        assert len(parsed.records) == len(doc) == 10


# --- GitHub ---------------------------------------------------------------------------------------------

PUSH = {
    "id": "3",
    "type": "PushEvent",
    "actor": {
        "id": 1,
        "login": "octocat",
        "display_login": "octocat",
        "gravatar_id": "",
        "url": "https://api.github.com/users/octocat",
        "avatar_url": "https://avatars.githubusercontent.com/u/1?",
    },
    "repo": {
        "id": 2,
        "name": "example-org/example-repo",
        "url": "https://api.github.com/repos/example-org/example-repo",
    },
    "payload": {
        "repository_id": 2,
        "push_id": 9,
        "ref": "refs/heads/main",
        "head": "0000000000000000000000000000000000000000",
        "before": "1111111111111111111111111111111111111111",
    },
    "public": True,
    "created_at": "2026-08-30T09:23:30Z",
}
PULL_REQUEST = {
    "id": "1",
    "type": "PullRequestEvent",
    "actor": {"id": 1, "login": "octocat"},
    "repo": {"id": 2, "name": "example-org/example-repo"},
    "payload": {
        "action": "opened",
        "number": 6,
        "pull_request": {
            "id": 3,
            "number": 6,
            "url": "https://api.github.com/x",
            "head": {"ref": "feat/example"},
            "base": {"ref": "main"},
        },
    },
    "public": True,
    "created_at": "2026-08-30T09:30:18Z",
}


def test_github_push_event_without_commits_keeps_the_whole_payload() -> None:
    [event] = parse_events([PUSH]).records
    assert isinstance(event, GithubEvent)
    assert event.event_id == "3"
    assert (event.event_type, event.actor_login, event.repo_name) == (
        "PushEvent",
        "octocat",
        "example-org/example-repo",
    )
    assert event.action is None
    assert event.org_login is None
    assert event.payload == PUSH["payload"]
    assert event.created_at == datetime(2026, 8, 30, 9, 23, 30, tzinfo=UTC)


def test_github_action_comes_from_the_payload() -> None:
    [event] = parse_events([PULL_REQUEST]).records
    assert isinstance(event, GithubEvent)
    assert event.action == "opened"
    assert event.payload["pull_request"]["number"] == 6


def test_github_optional_parts_missing() -> None:
    bare: dict[str, Any] = {
        "id": "77",
        "type": "WatchEvent",
        "actor": {"id": 5, "login": "dependabot[bot]"},
        "repo": {"id": 6, "name": "a/b"},
        "created_at": "2026-08-30T09:30:18Z",
    }  # no payload, no org, no public
    with_org = {**PULL_REQUEST, "id": "78", "org": {"id": 9, "login": "example-org"}}
    null_payload = {**PUSH, "id": "79", "payload": None}
    odd_action = {**PULL_REQUEST, "id": "80", "payload": {"action": "Weird Action!"}}
    parsed = parse_events([bare, with_org, null_payload, odd_action])
    assert parsed.rejections == []
    events = {e.event_id: e for e in parsed.records if isinstance(e, GithubEvent)}
    assert events["77"].payload == {}
    assert events["77"].public is True
    assert events["77"].action is None
    assert events["78"].org_login == "example-org"
    assert events["79"].payload == {}
    assert events["80"].action is None
    assert events["80"].payload == {"action": "Weird Action!"}


def test_github_one_bad_event_among_good_ones() -> None:
    no_actor = {**PUSH, "id": "10"}
    del no_actor["actor"]
    bad_type = {**PUSH, "id": "11", "type": "push"}
    bad_payload = {**PUSH, "id": "12", "payload": ["not", "a", "dict"]}
    bad_time = {**PUSH, "id": "13", "created_at": "yesterday"}
    parsed = parse_events([PUSH, no_actor, bad_type, 42, bad_payload, bad_time, PULL_REQUEST])
    assert [e.event_id for e in parsed.records] == ["3", "1"]  # type: ignore[attr-defined]
    assert [(r.reason, r.record_id) for r in parsed.rejections] == [
        ("invalid", "10"),
        ("invalid", "11"),
        ("shape", None),
        ("shape", "12"),
        ("invalid", "13"),
    ]


def test_github_error_object_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="rate limit"):
        parse_events({"message": "API rate limit exceeded for 1.2.3.4.", "documentation_url": "https://docs"})


def test_github_recordings_parse_cleanly_with_a_realistic_mix() -> None:
    types: set[str] = set()
    for doc in load_fixtures("github"):
        parsed = parse_events(doc)
        assert parsed.rejections == []
        types |= {e.event_type for e in parsed.records if isinstance(e, GithubEvent)}
    assert {"PushEvent", "PullRequestEvent", "CreateEvent", "WatchEvent", "IssueCommentEvent"} <= types


# --- Open-Meteo -----------------------------------------------------------------------------------------

OPEN_METEO_ONE: dict[str, Any] = {
    "latitude": 47.38,
    "longitude": 8.54,
    "generationtime_ms": 0.10275840759277344,
    "utc_offset_seconds": 0,
    "timezone": "GMT",
    "timezone_abbreviation": "GMT",
    "elevation": 408.0,
    "current_units": {
        "time": "iso8601",
        "interval": "seconds",
        "temperature_2m": "°C",
        "apparent_temperature": "°C",
        "relative_humidity_2m": "%",
        "rain": "mm",
        "weather_code": "wmo code",
        "wind_speed_10m": "km/h",
        "surface_pressure": "hPa",
        "pressure_msl": "hPa",
    },
    "current": {
        "time": "2026-03-12T16:45",
        "interval": 900,
        "temperature_2m": 14.6,
        "apparent_temperature": 13.5,
        "relative_humidity_2m": 75,
        "rain": 0.00,
        "weather_code": 3,
        "wind_speed_10m": 11.2,
        "surface_pressure": 966.1,
        "pressure_msl": 1014.2,
    },
}
ZURICH, TOKYO, SAO_PAULO, MEXICO = (CATALOGUE[c] for c in ("zurich", "tokyo", "sao-paulo", "mexico-city"))


def _entry_for(city_id: str, **current: Any) -> dict[str, Any]:
    city = CATALOGUE[city_id]
    entry = copy.deepcopy(OPEN_METEO_ONE)
    entry["latitude"], entry["longitude"] = round(city.latitude, 1), round(city.longitude, 1)
    entry["current"].update(current)
    return entry


def test_open_meteo_single_location_object() -> None:
    [obs] = parse_open_meteo(OPEN_METEO_ONE, [ZURICH]).records
    assert isinstance(obs, WeatherObservation)
    assert (obs.city_id, obs.city_name, obs.country) == ("zurich", "Zürich", "CH")
    assert obs.observed_at == datetime(2026, 3, 12, 16, 45, tzinfo=UTC)  # GMT, no offset in the text
    assert obs.wind_speed_ms == pytest.approx(11.2 / 3.6)  # km/h -> m/s
    assert obs.pressure_hpa == 1014.2  # sea level, like OpenWeatherMap's main.pressure
    assert (obs.temperature_c, obs.apparent_temperature_c, obs.humidity_pct) == (14.6, 13.5, 75)
    assert (obs.weather_code, obs.condition, obs.rain_mm) == (3, "Overcast", 0.0)


def test_open_meteo_multi_location_array_maps_by_position_and_honours_offsets() -> None:
    tokyo = _entry_for("tokyo", time="2026-03-13T01:45")
    tokyo["utc_offset_seconds"] = 32400  # timezone=Asia/Tokyo: local time
    sao_paulo = _entry_for("sao-paulo", rain=None, apparent_temperature=None, unknown_new_field=1)
    parsed = parse_open_meteo([_entry_for("zurich"), tokyo, sao_paulo], [ZURICH, TOKYO, SAO_PAULO])
    assert parsed.rejections == []
    obs = {o.city_id: o for o in parsed.records if isinstance(o, WeatherObservation)}
    assert list(obs) == ["zurich", "tokyo", "sao-paulo"]
    assert obs["tokyo"].observed_at == datetime(2026, 3, 12, 16, 45, tzinfo=UTC)
    assert obs["sao-paulo"].rain_mm is None
    assert obs["sao-paulo"].apparent_temperature_c is None


def test_open_meteo_high_altitude_city_uses_sea_level_pressure() -> None:
    mexico = _entry_for("mexico-city", surface_pressure=777.9, pressure_msl=1021.3)
    [obs] = parse_open_meteo(mexico, [MEXICO]).records
    assert isinstance(obs, WeatherObservation)
    assert obs.pressure_hpa == 1021.3


def test_open_meteo_units_other_than_default_are_converted() -> None:
    entry = _entry_for("zurich", temperature_2m=50.0, wind_speed_10m=10.0)
    entry["current_units"].update({"temperature_2m": "°F", "wind_speed_10m": "m/s"})
    [obs] = parse_open_meteo(entry, [ZURICH]).records
    assert isinstance(obs, WeatherObservation)
    assert obs.temperature_c == pytest.approx(10.0)
    assert obs.wind_speed_ms == 10.0


def test_open_meteo_one_bad_entry_among_good_ones() -> None:
    no_temp = _entry_for("tokyo", temperature_2m=None)
    wrong_place = _entry_for("zurich")  # answer for Zürich in São Paulo's slot
    parsed = parse_open_meteo(
        [_entry_for("zurich"), no_temp, wrong_place, "x"], [ZURICH, TOKYO, SAO_PAULO, MEXICO]
    )
    assert [o.city_id for o in parsed.records] == ["zurich"]  # type: ignore[attr-defined]
    assert [(r.reason, r.record_id) for r in parsed.rejections] == [
        ("invalid", "tokyo"),
        ("location", "sao-paulo"),
        ("shape", "mexico-city"),
    ]


@pytest.mark.parametrize(
    "body",
    [{"error": True, "reason": "Latitude must be in range of -90 to 90°."}, "garbage", 3],
)
def test_open_meteo_error_bodies(body: Any) -> None:
    with pytest.raises(PayloadError):
        parse_open_meteo(body, [ZURICH])


def test_open_meteo_location_count_mismatch_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="2 requested"):
        parse_open_meteo([_entry_for("zurich")], [ZURICH, TOKYO])


def test_open_meteo_recordings_cover_the_catalogue() -> None:
    for doc in load_fixtures("open-meteo"):
        parsed = parse_open_meteo(doc, list(CATALOGUE.values()))
        assert parsed.rejections == []
        assert len(parsed.records) == len(CATALOGUE)


# --- OpenWeatherMap -------------------------------------------------------------------------------------

BOGOTA_DOC = {
    "coord": {"lon": -74.08, "lat": 4.61},
    "weather": [{"id": 802, "main": "Clouds", "description": "scattered clouds", "icon": "03n"}],
    "base": "stations",
    "main": {
        "temp": 12.0,
        "feels_like": 10.83,
        "temp_min": 12.0,
        "temp_max": 12.0,
        "pressure": 1025,
        "humidity": 93,
    },
    "visibility": 10000,
    "wind": {"speed": 2.1, "deg": 50},
    "clouds": {"all": 40},
    "dt": 1606904259,
    "sys": {"type": 1, "id": 8582, "country": "CO", "sunrise": 1606906202, "sunset": 1606948935},
    "timezone": -18000,
    "id": 3688689,
    "name": "Bogotá",
    "cod": 200,
}
BOGOTA = CATALOGUE["bogota"]


def test_openweathermap_reference_document() -> None:
    [obs] = parse_openweathermap(BOGOTA_DOC, BOGOTA).records
    assert isinstance(obs, WeatherObservation)
    assert (obs.city_id, obs.city_name, obs.country) == ("bogota", "Bogotá", "CO")
    assert obs.observed_at == datetime.fromtimestamp(1606904259, UTC)
    assert (obs.temperature_c, obs.apparent_temperature_c, obs.humidity_pct) == (12.0, 10.83, 93)
    assert (obs.pressure_hpa, obs.wind_speed_ms, obs.rain_mm) == (1025, 2.1, None)
    assert (obs.weather_code, obs.condition) == (802, "Clouds")


def test_openweathermap_optional_blocks_missing_and_rain_present() -> None:
    doc: dict[str, Any] = copy.deepcopy(BOGOTA_DOC)
    del doc["wind"]
    del doc["weather"]
    doc["main"].pop("feels_like")
    doc["rain"] = {"1h": 0.42}
    [obs] = parse_openweathermap(doc, BOGOTA).records
    assert isinstance(obs, WeatherObservation)
    assert (obs.wind_speed_ms, obs.condition, obs.weather_code, obs.apparent_temperature_c) == (
        None,
        None,
        None,
        None,
    )
    assert obs.rain_mm == 0.42


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"cod": "404", "message": "city not found"}, "api_error"),  # cod as a string
        ({"cod": 401, "message": "Invalid API key."}, "api_error"),
        ({**BOGOTA_DOC, "id": 2643743}, "location"),
        ({**BOGOTA_DOC, "main": {"temp": None, "humidity": 50}}, "invalid"),
        ({**BOGOTA_DOC, "main": {"temp": 400.0, "humidity": 50}}, "invalid"),  # Kelvin slipped through
    ],
)
def test_openweathermap_rejections(doc: dict[str, Any], reason: str) -> None:
    parsed = parse_openweathermap(doc, BOGOTA)
    assert parsed.records == []
    assert [r.reason for r in parsed.rejections] == [reason]


def test_openweathermap_string_cod_message_is_kept_for_the_logs() -> None:
    [rejection] = parse_openweathermap({"cod": "404", "message": "city not found"}, BOGOTA).rejections
    assert "city not found" in rejection.detail
    assert rejection.record_id == "bogota"


def test_openweathermap_garbage_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        parse_openweathermap(["not", "an", "object"], BOGOTA)


def test_openweathermap_recording_parses_for_every_catalogue_city() -> None:
    docs = openweathermap_fixture()
    assert len(docs) == len(CATALOGUE)
    for doc, city in zip(docs, CATALOGUE.values(), strict=True):
        parsed = parse_openweathermap(doc, city)
        assert parsed.rejections == [], city.city_id


# --- garbage in, never a crash ----------------------------------------------------------------------------


def _garbage(rng: random.Random, depth: int = 0) -> Any:
    """Random JSON values, biased towards the keys the parsers look at."""
    keys = [
        "id",
        "type",
        "actor",
        "repo",
        "payload",
        "created_at",
        "current",
        "current_units",
        "time",
        "dt",
        "main",
        "temp",
        "cod",
        "last_updated",
        "current_price",
        "symbol",
        "utc_offset_seconds",
        "latitude",
    ]
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**63, 10**30, 1606904259, -(10**20)])
    if choice == 3:
        return rng.choice([0.5, -1e308, 1e308, float("nan"), float("inf")])
    if choice == 4:
        return rng.choice(
            ["", "x", "2026-03-12T16:45", "0001-01-01T00:00", "9999-12-31T23:59", "200", "\u0000", "é"]
        )
    if choice == 5:
        return str(rng.randrange(10**25))
    if choice == 6:
        return [_garbage(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(keys): _garbage(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_random_garbage_only_ever_raises_payload_error() -> None:
    rng = random.Random(1234)
    cities = [ZURICH, TOKYO]
    for _ in range(3000):
        doc = _garbage(rng)
        for parse in (
            parse_markets,
            parse_events,
            lambda d: parse_open_meteo(d, cities),
            lambda d: parse_openweathermap(d, BOGOTA),
        ):
            with contextlib.suppress(PayloadError):
                parse(doc)
        # Garbage inside the expected envelope shape goes through record-level rejection.
        parse_markets([doc])
        parse_events([doc])
        parse_openweathermap({"cod": 200, "main": doc, "dt": doc, "weather": [doc]}, BOGOTA)
        with contextlib.suppress(PayloadError):
            parse_open_meteo([doc, {"current": doc, "utc_offset_seconds": doc}], cities)
