"""Weather analytics: per city statistics of the newest day and the day's extremes."""

import statistics

import dagster as dg
from psycopg import sql

from dagster_code.defs.weather import queries
from dagster_code.lib import groups
from dagster_code.lib.metadata import markdown_table, number, text
from dagster_code.lib.resources import PostgresResource


@dg.asset(
    group_name=groups.WEATHER,
    deps=list(queries.MODELS),
    kinds={"python", "postgres"},
    description=(
        "Weather analytics (the original's third asset): per city minimum, maximum and average "
        "temperature, humidity and rain of the newest UTC day, and its hottest and coldest city."
    ),
)
def weather_analytics(postgres: PostgresResource) -> dg.MaterializeResult[None]:
    relations = {
        "daily": postgres.relation(queries.DAILY_MODEL),
        "extremes": postgres.relation(queries.EXTREMES_MODEL),
    }
    day = postgres.query(sql.SQL(queries.NEWEST_DAY).format(**relations))[0]["day"]
    cities = postgres.query(sql.SQL(queries.DAILY).format(**relations), (day,))
    extremes = {
        e["extreme"]: e for e in postgres.query(sql.SQL(queries.EXTREMES).format(**relations), (day,))
    }
    hottest, coldest = extremes.get("hottest", {}), extremes.get("coldest", {})
    averages = [c["avg_temperature_c"] for c in cities if c["avg_temperature_c"] is not None]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": number(len(cities)),
            "observed_date": text(day),
            "cities": number(len(cities)),
            "hottest_city": text(hottest.get("city_name")),
            "hottest_temperature_c": number(hottest.get("metric_value")),
            "coldest_city": text(coldest.get("city_name")),
            "coldest_temperature_c": number(coldest.get("metric_value")),
            "mean_temperature_c": number(statistics.fmean(averages) if averages else None),
            "preview": markdown_table(
                cities,
                [
                    ("city_name", "city"),
                    ("country", "country"),
                    ("min_temperature_c", "min °C"),
                    ("max_temperature_c", "max °C"),
                    ("avg_temperature_c", "avg °C"),
                    ("avg_humidity_pct", "humidity %"),
                    ("total_rain_mm", "rain mm"),
                ],
            ),
            "extremes": markdown_table(
                list(extremes.values()),
                [
                    ("extreme", "extreme"),
                    ("city_name", "city"),
                    ("metric_value", "value"),
                    ("observed_at", "at"),
                ],
            ),
        }
    )
