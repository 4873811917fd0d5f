"""Check factories: the same completeness and validity checks for every domain's headline mart."""

from __future__ import annotations

import dagster as dg

from dagster_code.lib import quality
from dagster_code.lib.dbt.project import declared_columns
from dagster_code.lib.resources import PostgresResource


def mart_checks(
    model: str, required: tuple[str, ...], ranges: tuple[quality.Range, ...] = ()
) -> list[dg.AssetChecksDefinition]:
    """Completeness and validity of one postgres mart. Both block: a report is not published from
    an empty, incomplete or invalid mart."""
    rules = quality.MartRules(model, required, ranges, declared_columns(model))

    @dg.asset_check(
        asset=model,
        name="completeness",
        blocking=True,
        description=f"{model} has rows, and none lacks a required field ({', '.join(required)}).",
    )
    def completeness(postgres: PostgresResource) -> dg.AssetCheckResult:
        return quality.completeness(postgres, rules)

    @dg.asset_check(
        asset=model,
        name="validity",
        blocking=True,
        description=(
            f"{model} matches its dbt contract (columns and types) and its values are in range: "
            + ("; ".join(r.describe() for r in ranges) or "no range rules")
        ),
    )
    def validity(postgres: PostgresResource) -> dg.AssetCheckResult:
        return quality.validity(postgres, rules)

    return [completeness, validity]
