"""Current weather -> WeatherObservation, from Open-Meteo (keyless) or OpenWeatherMap (with a key).

Open-Meteo `/v1/forecast` answers one object for one location and an array (in request order) for
comma-separated coordinates. `current.time` has no offset: it is local to `utc_offset_seconds`
(0 = GMT, the default). Wind defaults to km/h, the contract wants m/s. Open-Meteo's
`surface_pressure` is pressure at ground level (about 780 hPa in Mexico City, out of the contract's
850..1100 range), so `pressure_hpa` is taken from `pressure_msl`, which is also what OpenWeatherMap's
`main.pressure` reports.

OpenWeatherMap `/data/2.5/weather` is one call per city; `cod` is a number on success but a string on
some errors (`{"cod":"404","message":"city not found"}`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeGuard

from services.contract import StreamName, WeatherObservation
from services.producers.cities import City
from services.producers.http import Fetcher, PayloadError, json_body
from services.producers.settings import WeatherSettings
from services.producers.sources.base import Parsed, PollResult, Rejection, build, get_path, poll_each

log = logging.getLogger(__name__)

OPEN_METEO = "open-meteo"
OPENWEATHERMAP = "openweathermap"
CURRENT_VARIABLES = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,rain,weather_code,"
    "wind_speed_10m,surface_pressure,pressure_msl"
)
MAX_GRID_OFFSET_DEG = 1.0
"""Open-Meteo snaps coordinates to its model grid; farther than this means the answer is for
another place (responses out of order, or a proxy mixing requests up)."""

# WMO weather interpretation codes (WW), as documented by Open-Meteo.
WMO_CONDITIONS: dict[int, str] = {
    0: "Clear sky",
    1: "Mainly clear",
    2: "Partly cloudy",
    3: "Overcast",
    45: "Fog",
    48: "Depositing rime fog",
    51: "Light drizzle",
    53: "Moderate drizzle",
    55: "Dense drizzle",
    56: "Light freezing drizzle",
    57: "Dense freezing drizzle",
    61: "Slight rain",
    63: "Moderate rain",
    65: "Heavy rain",
    66: "Light freezing rain",
    67: "Heavy freezing rain",
    71: "Slight snow fall",
    73: "Moderate snow fall",
    75: "Heavy snow fall",
    77: "Snow grains",
    80: "Slight rain showers",
    81: "Moderate rain showers",
    82: "Violent rain showers",
    85: "Slight snow showers",
    86: "Heavy snow showers",
    95: "Thunderstorm",
    96: "Thunderstorm with slight hail",
    99: "Thunderstorm with heavy hail",
}

_WIND_TO_MS = {"km/h": 1 / 3.6, "m/s": 1.0, "mp/h": 0.44704, "mph": 0.44704, "kn": 0.514444}
_RAIN_TO_MM = {"mm": 1.0, "inch": 25.4}


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scaled(value: Any, factor: float) -> Any:
    """Scale numbers; pass anything else through so the model's validation names the problem."""
    return value * factor if _is_number(value) else value


def _celsius(value: Any, unit: Any) -> Any:
    if _is_number(value) and unit == "°F":
        return (value - 32) * 5 / 9
    return value


def parse_open_meteo(doc: Any, cities: Sequence[City]) -> Parsed:
    """Parse a single-location object or a multi-location array; entry i belongs to cities[i]."""
    entries = [doc] if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and doc.get("error"):
        raise PayloadError(f"Open-Meteo error: {str(doc.get('reason'))[:200]}")
    if not isinstance(entries, list):
        raise PayloadError(f"expected an object or array, got {type(doc).__name__}")
    if len(entries) != len(cities):
        # Entries map to cities by position only, so a length mismatch makes every mapping a guess.
        raise PayloadError(f"{len(entries)} locations in the response, {len(cities)} requested")
    out = Parsed()
    for entry, city in zip(entries, cities, strict=True):
        obs = _open_meteo_entry(entry, city, out.rejections)
        if obs is not None:
            out.records.append(obs)
    return out


def _open_meteo_entry(entry: Any, city: City, rejections: list[Rejection]) -> WeatherObservation | None:
    if not isinstance(entry, dict):
        rejections.append(Rejection("shape", f"entry is {type(entry).__name__}, not an object", city.city_id))
        return None
    current = entry.get("current")
    if not isinstance(current, dict):
        rejections.append(Rejection("shape", "no 'current' object", city.city_id))
        return None
    lat, lon = entry.get("latitude"), entry.get("longitude")
    if (
        _is_number(lat)
        and _is_number(lon)
        and (
            abs(lat - city.latitude) > MAX_GRID_OFFSET_DEG or abs(lon - city.longitude) > MAX_GRID_OFFSET_DEG
        )
    ):
        detail = f"answer is for ({lat}, {lon}), expected near ({city.latitude}, {city.longitude})"
        rejections.append(Rejection("location", detail, city.city_id))
        return None
    units = entry.get("current_units") if isinstance(entry.get("current_units"), dict) else {}
    assert isinstance(units, dict)
    observed = _local_time(current.get("time"), entry.get("utc_offset_seconds"))
    if observed is None:
        rejections.append(Rejection("invalid", f"bad current.time {current.get('time')!r}", city.city_id))
        return None
    wind_factor = _WIND_TO_MS.get(str(units.get("wind_speed_10m", "km/h")))
    rain_factor = _RAIN_TO_MM.get(str(units.get("rain", "mm")))
    if wind_factor is None or rain_factor is None:
        rejections.append(Rejection("invalid", f"unknown units {units}", city.city_id))
        return None
    code = current.get("weather_code")
    return build(
        WeatherObservation,
        {
            "city_id": city.city_id,
            "city_name": city.name,
            "country": city.country,
            "latitude": city.latitude,
            "longitude": city.longitude,
            "observed_at": observed,
            "temperature_c": _celsius(current.get("temperature_2m"), units.get("temperature_2m")),
            "apparent_temperature_c": _celsius(
                current.get("apparent_temperature"), units.get("apparent_temperature")
            ),
            "humidity_pct": current.get("relative_humidity_2m"),
            "pressure_hpa": current.get("pressure_msl"),
            "wind_speed_ms": _scaled(current.get("wind_speed_10m"), wind_factor),
            "rain_mm": _scaled(current.get("rain"), rain_factor),
            "weather_code": code,
            "condition": WMO_CONDITIONS.get(code) if isinstance(code, int) else None,
        },
        city.city_id,
        rejections,
    )


def _local_time(value: Any, utc_offset: Any) -> datetime | None:
    """'2026-03-12T16:45' local to utc_offset_seconds -> an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
        if ts.tzinfo is None:
            offset = utc_offset if _is_number(utc_offset) and abs(utc_offset) <= 14 * 3600 else 0
            ts = ts.replace(tzinfo=timezone(timedelta(seconds=int(offset))))
        return ts.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO, or 0001-01-01 with a positive offset
        return None


def _from_epoch(value: Any) -> Any:
    """Unix seconds -> aware datetime; anything else (or out of range) is left for validation to reject."""
    if not _is_number(value):
        return value
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return str(value)


def parse_openweathermap(doc: Any, city: City) -> Parsed:
    """Parse one `/data/2.5/weather?units=metric` answer for `city`."""
    out = Parsed()
    if not isinstance(doc, dict):
        raise PayloadError(f"expected an object, got {type(doc).__name__}")
    cod = doc.get("cod")
    if str(cod) != "200":
        # cod is 200 (number) on success, but "404" (string) on some errors: compare as text.
        detail = f"cod={cod!r}: {str(doc.get('message'))[:200]}"
        out.rejections.append(Rejection("api_error", detail, city.city_id))
        return out
    if city.owm_id is not None and _is_number(doc.get("id")) and doc.get("id") != city.owm_id:
        detail = f"answer is for city id {doc.get('id')}, expected {city.owm_id}"
        out.rejections.append(Rejection("location", detail, city.city_id))
        return out
    dt = doc.get("dt")
    weather = doc.get("weather")
    first = weather[0] if isinstance(weather, list) and weather and isinstance(weather[0], dict) else {}
    obs = build(
        WeatherObservation,
        {
            "city_id": city.city_id,
            "city_name": city.name,
            "country": city.country,
            "latitude": city.latitude,
            "longitude": city.longitude,
            "observed_at": _from_epoch(dt),
            "temperature_c": get_path(doc, "main", "temp"),
            "apparent_temperature_c": get_path(doc, "main", "feels_like"),
            "humidity_pct": get_path(doc, "main", "humidity"),
            "pressure_hpa": get_path(doc, "main", "pressure"),
            "wind_speed_ms": get_path(doc, "wind", "speed"),
            "rain_mm": get_path(doc, "rain", "1h"),
            "weather_code": first.get("id"),
            "condition": first.get("main"),
        },
        city.city_id,
        out.rejections,
    )
    if obs is not None:
        out.records.append(obs)
    return out


def _coord(value: float) -> str:
    """Four decimals (about 10 m) without trailing zeros: 8.55, -46.6361."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


class OpenMeteoLive:
    stream = StreamName.WEATHER
    label = OPEN_METEO

    def __init__(self, settings: WeatherSettings, fetcher: Fetcher) -> None:
        self._settings = settings
        self._fetcher = fetcher

    def poll(self) -> PollResult:
        cities = self._settings.weather_cities
        response = self._fetcher.get(
            f"{self._settings.open_meteo_base_url}/v1/forecast",
            params={
                "latitude": ",".join(_coord(c.latitude) for c in cities),
                "longitude": ",".join(_coord(c.longitude) for c in cities),
                "current": CURRENT_VARIABLES,
            },
        )
        return PollResult(parse_open_meteo(json_body(response), cities))

    def close(self) -> None:
        """The fetcher is shared and closed by the runner."""


class OpenWeatherLive:
    """One request per city; a failing city is counted and skipped, the others still produce."""

    stream = StreamName.WEATHER
    label = OPENWEATHERMAP

    def __init__(self, settings: WeatherSettings, fetcher: Fetcher) -> None:
        assert settings.openweather_api_key is not None
        self._settings = settings
        self._fetcher = fetcher
        self._key = settings.openweather_api_key.get_secret_value()

    def poll(self) -> PollResult:
        return poll_each(self._settings.weather_cities, self._one, lambda c: c.city_id, self._fetcher.metrics)

    def _one(self, city: City) -> Parsed:
        where = (
            {"id": str(city.owm_id)}
            if city.owm_id
            else {"lat": _coord(city.latitude), "lon": _coord(city.longitude)}
        )
        response = self._fetcher.get(
            f"{self._settings.openweather_base_url}/data/2.5/weather",
            params={**where, "units": "metric", "appid": self._key},
        )
        return parse_openweathermap(json_body(response), city)

    def close(self) -> None:
        """The fetcher is shared and closed by the runner."""
