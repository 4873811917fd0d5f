"""Settings the code location reads from the environment besides the connections, in the services'
own style (pydantic-settings, `services.config.load` names the variable on a bad value).

Read when a run or a check evaluates, never at import time, so a code server picks up a changed
value on its next run without a reload.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.lake.settings import Duration

_BASE = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)


class AnalyticsSettings(BaseSettings):
    model_config = _BASE

    dbt_schema: str = Field("analytics", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """DBT_SCHEMA: the schema dbt builds the models in (the same variable and default as
    dbt_project/profiles.yml), read by the report assets and the checks."""


class QualitySettings(BaseSettings):
    """Thresholds of the asset checks and of the lag sensor."""

    model_config = _BASE

    dq_freshness_max_age: Duration = timedelta(hours=6)
    """DQ_FRESHNESS_MAX_AGE: a raw table whose newest row landed longer ago than this is stale (the
    original stack's rule: data updated within 6 hours). `90`, `30m`, `6h`, `P1D`..."""
    dq_volume_baseline_hours: int = Field(24, ge=2, le=24 * 14)
    """DQ_VOLUME_BASELINE_HOURS: hourly landing counts before the last hour that form the baseline."""
    dq_volume_min_history_hours: int = Field(3, ge=1)
    """DQ_VOLUME_MIN_HISTORY_HOURS: baseline hours (since the source's first row) needed to judge."""
    dq_volume_min_ratio: float = Field(0.1, ge=0)
    """DQ_VOLUME_MIN_RATIO: fewer rows in the last hour than this x the baseline median: stopped."""
    dq_volume_max_ratio: float = Field(10.0, gt=1)
    """DQ_VOLUME_MAX_RATIO: more rows in the last hour than this x the baseline median: exploded."""
    dq_lag_tolerance: Duration = timedelta(minutes=10)
    """DQ_LAG_TOLERANCE: the lag sensor requests a domain's assets when its raw table has rows
    landed this long after the domain's last materialization (two missed 5-minute ticks)."""
