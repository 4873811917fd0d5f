"""The raw tables the sink lands, as observable source assets with freshness and volume checks."""

import dagster as dg

from dagster_code.defs.ingestion.assets import raw_tables
from dagster_code.defs.ingestion.checks import raw_checks

defs = dg.Definitions(assets=[raw_tables], asset_checks=raw_checks)
