"""The cities the weather producer knows by slug, and parsing of the `WEATHER_CITIES` setting.

Slugs are the stable `city_id` of the contract (ASCII, so `sao-paulo`, not `são-paulo`); display
names keep their diacritics. OpenWeatherMap ids come from its city list; a city without one is
queried by coordinates instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.contract.payloads import CITY_ID


@dataclass(frozen=True)
class City:
    city_id: str
    name: str
    country: str
    latitude: float
    longitude: float
    owm_id: int | None = None


CATALOGUE: dict[str, City] = {
    c.city_id: c
    for c in (
        City("london", "London", "GB", 51.5085, -0.1257, 2643743),
        City("new-york", "New York", "US", 40.7143, -74.006, 5128581),
        City("mexico-city", "Mexico City", "MX", 19.4285, -99.1277, 3530597),
        City("sao-paulo", "São Paulo", "BR", -23.5475, -46.6361, 3448439),
        City("buenos-aires", "Buenos Aires", "AR", -34.6132, -58.3772, 3435910),
        City("zurich", "Zürich", "CH", 47.3667, 8.55, 2657896),
        City("lagos", "Lagos", "NG", 6.4541, 3.3947, 2332459),
        City("cairo", "Cairo", "EG", 30.0626, 31.2497, 360630),
        City("nairobi", "Nairobi", "KE", -1.2833, 36.8167, 184745),
        City("mumbai", "Mumbai", "IN", 19.0144, 72.8479, 1275339),
        City("tokyo", "Tōkyō", "JP", 35.6895, 139.6917, 1850147),
        City("sydney", "Sydney", "AU", -33.8679, 151.2073, 2147714),
        City("mcmurdo", "McMurdo Station", "AQ", -77.846, 166.676, None),
        # Known but not in the default list.
        City("reykjavik", "Reykjavík", "IS", 64.1355, -21.8954, 3413829),
        City("singapore", "Singapore", "SG", 1.2897, 103.8501, 1880252),
        City("cape-town", "Cape Town", "ZA", -33.9258, 18.4232, 3369157),
        City("auckland", "Auckland", "NZ", -36.8485, 174.7633, 2193733),
        City("anchorage", "Anchorage", "US", 61.2181, -149.9003, 5879400),
        City("bogota", "Bogotá", "CO", 4.6097, -74.0817, 3688689),
        City("moscow", "Moscow", "RU", 55.7522, 37.6156, 524901),
    )
}

DEFAULT_CITIES = (
    "london,new-york,mexico-city,sao-paulo,buenos-aires,zurich,lagos,cairo,nairobi,mumbai,tokyo,sydney,"
    "mcmurdo"
)
"""One or more cities on every continent (McMurdo Station stands in for Antarctica)."""

_SLUG = re.compile(CITY_ID)
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def parse_cities(spec: str) -> tuple[City, ...]:
    """Parse `WEATHER_CITIES`: comma-separated entries, each a catalogue slug or a custom city
    written `slug|Name|CC|lat|lon[|owm_id]` (pipes, because coordinates would clash with commas).

    Raises ValueError with a readable message; settings turn it into a ConfigError naming the variable.
    """
    cities: list[City] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        city = _parse_entry(entry)
        if any(c.city_id == city.city_id for c in cities):
            raise ValueError(f"city {city.city_id!r} is listed twice")
        cities.append(city)
    if not cities:
        raise ValueError("at least one city is required")
    return tuple(cities)


def _parse_entry(entry: str) -> City:
    if "|" not in entry:
        if entry not in CATALOGUE:
            known = ", ".join(sorted(CATALOGUE))
            raise ValueError(f"unknown city {entry!r}; known: {known}; or use slug|Name|CC|lat|lon[|owm_id]")
        return CATALOGUE[entry]
    parts = [p.strip() for p in entry.split("|")]
    if len(parts) not in (5, 6):
        raise ValueError(f"custom city {entry!r} must be slug|Name|CC|lat|lon[|owm_id]")
    slug, name, country, lat_s, lon_s = parts[:5]
    if not _SLUG.match(slug):
        raise ValueError(f"city slug {slug!r} must match {CITY_ID}")
    if not name:
        raise ValueError(f"custom city {slug!r} needs a name")
    if not _COUNTRY.match(country):
        raise ValueError(f"country {country!r} must be a two-letter upper-case code")
    try:
        lat, lon = float(lat_s), float(lon_s)
        owm_id = int(parts[5]) if len(parts) == 6 and parts[5] else None
    except ValueError:
        raise ValueError(f"custom city {slug!r}: latitude/longitude/owm_id must be numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"custom city {slug!r}: coordinates out of range")
    return City(slug, name, country, lat, lon, owm_id)
