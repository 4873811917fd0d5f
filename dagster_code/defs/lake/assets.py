"""The lake's raw tables (written by the syncer, outside Dagster) and its maintenance.

Maintenance runs after the lake dbt models in the same run (it depends on them), so within a run the
two never write at once, and the writer lock keeps any other Dagster lake writer out meanwhile.
"""

import dagster as dg

from dagster_code.defs.dbt.assets import lake_models
from dagster_code.defs.ingestion.assets import RAW_KEYS
from dagster_code.lib import groups
from dagster_code.lib.dbt.translator import LAKE_PREFIX
from dagster_code.lib.metadata import markdown_table, number
from dagster_code.lib.resources import LakeResource

LAKE_RAW_SPECS = [
    dg.AssetSpec(
        key=key.with_prefix(LAKE_PREFIX),
        deps=[key],
        group_name=groups.LAKE,
        kinds={"ducklake"},
        description=(
            f"DuckLake copy of `{key.path[-1]}`, appended incrementally and exactly once by "
            "`datastack sync` (a service, not a Dagster run)."
        ),
    )
    for key in RAW_KEYS
]


@dg.asset(
    key=[LAKE_PREFIX, "maintenance"],
    group_name=groups.LAKE,
    deps=list(lake_models.keys),
    kinds={"ducklake"},
    description=(
        "DuckLake maintenance (`datastack lake maintain`): flush inlined rows, expire old snapshots, "
        "merge small files, delete files no longer needed. Settings LAKE_SNAPSHOT_RETENTION, "
        "LAKE_FILE_CLEANUP_DELAY, LAKE_ORPHAN_MIN_AGE."
    ),
)
def lake_maintenance(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult[None]:
    from services.lake.maintenance import maintain

    with lake.writer_lock(), lake.connect() as con:
        summary = maintain(con, lake.maintenance_settings())
    tables = [{"table": name, **counts} for name, counts in sorted(summary["data_files_by_table"].items())]
    metadata = {
        "data_files_before": number(summary["data_files_before"]),
        "data_files_after": number(summary["data_files_after"]),
        "inlined_rows_flushed": number(sum(summary["inlined_rows_flushed"].values())),
        "files_merged": number(summary["files_merged"]),
        "snapshots_expired": number(summary["snapshots_expired"]),
        "old_files_deleted": number(summary["old_files_deleted"]),
        "orphaned_files_deleted": number(summary["orphaned_files_deleted"]),
        "seconds": number(summary["seconds"]),
        "files_by_table": markdown_table(
            tables, [("table", "table"), ("before", "before"), ("after", "after")]
        ),
    }
    if summary["errors"]:
        # A step lost its races with another writer every time: fail visibly (the run-failure
        # sensor records it) rather than report a maintained lake.
        raise dg.Failure(
            description="lake maintenance: " + "; ".join(summary["errors"]),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)
