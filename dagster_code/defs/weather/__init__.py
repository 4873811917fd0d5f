"""Weather analytics: the dbt weather marts, their checks, and the report built on them."""

import dagster as dg

from dagster_code.defs.weather.assets import weather_analytics
from dagster_code.defs.weather.checks import weather_checks

defs = dg.Definitions(assets=[weather_analytics], asset_checks=weather_checks)
