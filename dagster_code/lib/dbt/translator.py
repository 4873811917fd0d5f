"""How dbt resources become Dagster assets: keys, groups and upstream raw tables, per target.

The postgres target is what the UI's four analytics groups show; the lake target is a second asset
set over the same manifest under the key prefix `lake`, in one group, refreshed by the 30-minute
job. Small helpers, each with its reason, as in DOP's lib/dbt/translator.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from dagster_code.lib import groups

LAKE_PREFIX = "lake"


def domain_of(props: Mapping[str, Any]) -> str | None:
    """The domain folder of a model (`models/<layer>/<domain>/...` -> fqn[2]), if any."""
    fqn = props.get("fqn") or []
    return str(fqn[2]) if len(fqn) > 3 else None


def raw_table_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """dbt sources are the raw tables; their key is the table name, the same key the observable
    source assets in defs/ingestion use, so lineage runs raw table -> staging -> marts."""
    return dg.AssetKey(str(props["name"]))


class PostgresTranslator(DagsterDbtTranslator):
    """Models keep their name as key (`crypto_price_summary`) and land in their domain's group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return raw_table_key(dbt_resource_props)
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        domain = domain_of(dbt_resource_props)
        return groups.DBT_DOMAIN_GROUPS.get(domain or "", super().get_group_name(dbt_resource_props))


class LakeTranslator(DagsterDbtTranslator):
    """The same models built in DuckLake: `lake/<model>`, all in group `lake`, reading the lake's
    copies of the raw tables (`lake/raw_*`, written by the syncer)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return raw_table_key(dbt_resource_props).with_prefix(LAKE_PREFIX)
        return super().get_asset_key(dbt_resource_props).with_prefix(LAKE_PREFIX)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return groups.LAKE
