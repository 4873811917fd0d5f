"""The DuckLake side: the syncer's copies of the raw tables and the lake's maintenance."""

import dagster as dg

from dagster_code.defs.lake.assets import LAKE_RAW_SPECS, lake_maintenance

defs = dg.Definitions(assets=[*LAKE_RAW_SPECS, lake_maintenance])
