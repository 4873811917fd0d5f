"""The three jobs, with the original stack's cadences (schedules.py) and their run tags
(lib/run_tags.py: what they write, their pod size, their time limit)."""

import dagster as dg

from dagster_code.defs.ingestion.assets import RAW_KEYS
from dagster_code.lib import groups, run_tags

REALTIME_GROUPS = (groups.CRYPTO, groups.DEVELOPER, groups.WEATHER)

realtime_analytics_job = dg.define_asset_job(
    "realtime_analytics",
    selection=dg.AssetSelection.groups(*REALTIME_GROUPS),
    description=(
        "Crypto, developer and weather: the dbt models on PostgreSQL with their tests, the checks and "
        "the three reports."
    ),
    tags=run_tags.REALTIME_ANALYTICS.tags(),
)

data_quality_job = dg.define_asset_job(
    "data_quality",
    selection=dg.AssetSelection.groups(groups.DATA_QUALITY) | dg.AssetSelection.checks_for_assets(*RAW_KEYS),
    description=(
        "The data-quality marts, their checks and report, and the raw tables' freshness and volume checks."
    ),
    tags=run_tags.DATA_QUALITY.tags(),
)

ingestion_audit_job = dg.define_asset_job(
    "ingestion_audit",
    # The raw tables by key: they are observable sources, which group selections leave out. The
    # lake group's raw copies are not executable (the syncer writes them) and drop out by themselves.
    selection=dg.AssetSelection.assets(*RAW_KEYS) | dg.AssetSelection.groups(groups.LAKE),
    description=(
        "What the always-running producers and sink landed (row counts, newest rows, freshness and "
        "volume of each raw table), then the lake: dbt on the DuckLake target and lake maintenance."
    ),
    tags=run_tags.INGESTION_AUDIT.tags(),
)

JOBS = [realtime_analytics_job, data_quality_job, ingestion_audit_job]
