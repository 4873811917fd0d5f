"""Freshness and volume of each raw table: a source that went quiet, stopped or exploded.

They read the raw tables themselves, not the marts, so they judge what the producers and the sink
delivered even when dbt is broken.
"""

import dagster as dg

from dagster_code.defs.ingestion.assets import RAW_KEYS
from dagster_code.lib import quality
from dagster_code.lib.resources import PostgresResource
from dagster_code.lib.settings import QualitySettings
from services.config import load


def freshness_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    table = key.path[-1]

    @dg.asset_check(
        asset=key,
        name="freshness",
        description="The newest row landed within DQ_FRESHNESS_MAX_AGE (6 hours by default).",
    )
    def _check(postgres: PostgresResource) -> dg.AssetCheckResult:
        return quality.freshness(postgres, table, load(QualitySettings).dq_freshness_max_age)

    return _check


def volume_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    table = key.path[-1]

    @dg.asset_check(
        asset=key,
        name="volume",
        description=(
            "Rows landed in the last hour against the hourly median of the previous hours: fails "
            "below DQ_VOLUME_MIN_RATIO (stopped) or above DQ_VOLUME_MAX_RATIO (exploded)."
        ),
    )
    def _check(postgres: PostgresResource) -> dg.AssetCheckResult:
        return quality.volume(postgres, table, load(QualitySettings))

    return _check


raw_checks = [make(key) for key in RAW_KEYS for make in (freshness_check, volume_check)]
