"""Developer insights: the dbt GitHub marts, their checks, and the report built on them."""

import dagster as dg

from dagster_code.defs.developer.assets import developer_insights
from dagster_code.defs.developer.checks import developer_checks

defs = dg.Definitions(assets=[developer_insights], asset_checks=developer_checks)
