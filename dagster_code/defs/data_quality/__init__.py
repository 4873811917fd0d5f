"""Data quality: the dbt data-quality marts, their checks, and the report built on them."""

import dagster as dg

from dagster_code.defs.data_quality.assets import data_quality_report
from dagster_code.defs.data_quality.checks import data_quality_checks

defs = dg.Definitions(assets=[data_quality_report], asset_checks=data_quality_checks)
