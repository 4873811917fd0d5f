"""`lake maintain` reduces files and snapshots and never loses or duplicates a row."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.config import PostgresSettings
from services.lake.connect import connect
from services.lake.maintenance import maintain
from services.lake.settings import LakeSettings, MaintenanceSettings
from services.lake.tables import RAW_TABLES, STATE_TABLE
from tests.lake.helpers import MakeSyncer, lake_counts, source_counts
from tests.lake.rawrows import insert_all

NOW = MaintenanceSettings(lake_snapshot_retention=timedelta(0), lake_file_cleanup_delay=timedelta(0))


def _parquet_files(lake: LakeSettings) -> set[Path]:
    assert lake.data_path
    return set(Path(lake.data_path).rglob("*.parquet"))


def _run(lake: LakeSettings, pg: PostgresSettings, settings: MaintenanceSettings) -> dict[str, Any]:
    con = connect(lake, pg)
    try:
        return maintain(con, settings)
    finally:
        con.close()


def test_merges_small_files_expires_snapshots_and_keeps_every_row(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 1000)
    syncer = make_syncer(sync_batch_rows=100, sync_inline_row_limit=0)
    syncer.run_cycle()  # 10 files per table
    before = {t: lake_counts(lake_settings, source_pg, t) for t in RAW_TABLES}
    on_disk = _parquet_files(lake_settings)

    summary = _run(lake_settings, source_pg, NOW)

    assert summary["errors"] == []
    for table in RAW_TABLES:
        assert summary["data_files_by_table"][f"main.{table}"] == {"before": 10, "after": 1}
        assert (
            lake_counts(lake_settings, source_pg, table) == before[table] == source_counts(source_pg, table)
        )
    assert summary["data_files_after"] < summary["data_files_before"]
    assert summary["files_merged"] >= 30
    assert summary["snapshots_expired"] > 0
    assert summary["old_files_deleted"] >= 30
    assert len(_parquet_files(lake_settings)) < len(on_disk)
    # The syncer carries on after maintenance: watermarks and new rows are unaffected.
    insert_all(source_pg.conninfo(), 1001, 50)
    assert syncer.run_cycle().rows == dict.fromkeys(RAW_TABLES, 50)
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)


def test_flushes_inlined_rows_into_one_file(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    syncer = make_syncer(sync_inline_row_limit=1000)
    for start in (1, 201, 401):
        insert_all(source_pg.conninfo(), start, 200)
        syncer.run_cycle()
    assert _parquet_files(lake_settings) == set()  # small batches live in the catalog

    summary = _run(lake_settings, source_pg, NOW)

    assert summary["errors"] == []
    assert summary["inlined_rows_flushed"] == {**dict.fromkeys(RAW_TABLES, 600), STATE_TABLE: 9}
    for table in RAW_TABLES:
        assert summary["data_files_by_table"][f"main.{table}"]["after"] == 1
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)


def test_orphaned_files_are_deleted_only_when_old(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 100)
    make_syncer(sync_inline_row_limit=0).run_cycle()
    (tracked, *_) = sorted(_parquet_files(lake_settings))
    old_orphan = tracked.with_name("ducklake-crashed-writer-old.parquet")
    new_orphan = tracked.with_name("ducklake-running-writer-new.parquet")
    for orphan in (old_orphan, new_orphan):
        shutil.copy(tracked, orphan)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_orphan, (two_days_ago, two_days_ago))

    summary = _run(lake_settings, source_pg, MaintenanceSettings())  # LAKE_ORPHAN_MIN_AGE = 1 day

    assert summary["orphaned_files_deleted"] == 1
    assert not old_orphan.exists()
    assert new_orphan.exists()  # could belong to a writer that has not committed yet
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)
