"""dbt models as assets, dbt data tests as asset checks, on both targets.

postgres: the marts the UI's analytics groups and reports read; dbt's 4 threads.
lake:     the same models in DuckLake under `lake/`, one thread (see dbt_project/profiles.yml), built
          by the 30-minute job, never concurrently with another Dagster lake writer.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_code.lib.dbt.invoke import build
from dagster_code.lib.dbt.project import dbt_project, manifest
from dagster_code.lib.dbt.translator import LakeTranslator, PostgresTranslator
from dagster_code.lib.resources import LakeResource, PostgresResource


@dbt_assets(
    manifest=manifest(),
    project=dbt_project("postgres"),
    dagster_dbt_translator=PostgresTranslator(),
    name="dbt_postgres",
)
def postgres_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource
) -> Iterator[Any]:
    with postgres.analytics_lock():
        yield from build(context, dbt)


@dbt_assets(
    manifest=manifest(),
    project=dbt_project("lake"),
    dagster_dbt_translator=LakeTranslator(),
    name="dbt_lake",
)
def lake_models(
    context: dg.AssetExecutionContext, dbt_lake: DbtCliResource, lake: LakeResource
) -> Iterator[Any]:
    with lake.writer_lock():
        yield from build(context, dbt_lake)
