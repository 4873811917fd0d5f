"""The weather-analytics queries: the newest UTC day of the weather marts."""

from typing import Final

DAILY_MODEL: Final = "weather_daily_stats"
EXTREMES_MODEL: Final = "weather_extremes"
MODELS: Final = (DAILY_MODEL, EXTREMES_MODEL)

NEWEST_DAY: Final = "SELECT max(observed_date) AS day FROM {daily}"
DAILY: Final = """
SELECT city_id, city_name, country, observation_count, min_temperature_c, max_temperature_c,
       avg_temperature_c, avg_humidity_pct, total_rain_mm, avg_temperature_change_c
FROM {daily} WHERE observed_date = %s ORDER BY avg_temperature_c DESC NULLS LAST, city_id
"""
EXTREMES: Final = """
SELECT extreme, city_name, metric, metric_value, observed_at
FROM {extremes} WHERE observed_date = %s ORDER BY extreme
"""
