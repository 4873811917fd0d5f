"""Completeness and validity of the daily city statistics."""

from dagster_code.defs.weather.queries import DAILY_MODEL
from dagster_code.lib.checks import mart_checks
from dagster_code.lib.quality import Range

weather_checks = mart_checks(
    DAILY_MODEL,
    required=("city_id", "observed_date", "city_name", "observation_count", "avg_temperature_c"),
    ranges=(
        # Physical plausibility as the contract defines it (services/contract/payloads.py).
        Range("min_temperature_c", low=-95, high=65),
        Range("max_temperature_c", low=-95, high=65),
        Range("avg_temperature_c", low=-95, high=65),
        Range("min_humidity_pct", low=0, high=100),
        Range("max_humidity_pct", low=0, high=100),
        Range("total_rain_mm", low=0),
        Range("observation_count", low=1),
    ),
)
