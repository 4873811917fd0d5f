"""The dbt project as assets: the postgres target (the four analytics groups) and the lake target."""

import dagster as dg

from dagster_code.defs.dbt.assets import lake_models, postgres_models

defs = dg.Definitions(assets=[postgres_models, lake_models])
