"""The syncer, a model writer (dbt's role: its own process and DuckDB) and `lake maintain` write to
the same lake at once: no failed commits, no lost or duplicated rows. Then the same with the real
thing: `dbt run --target lake` over the whole project while the syncer keeps committing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from services.config import PostgresSettings
from services.lake.settings import LakeSettings
from services.lake.tables import RAW_TABLES, STATE_TABLE
from tests.dbt.helpers import DBT_PROJECT_DIR, dbt_env, run_dbt
from tests.lake.helpers import lake_counts, lake_rows, source_counts
from tests.lake.rawrows import insert_all
from tests.support.proc import DATASTACK, ServiceProcess
from tests.support.wait import wait_until

ROWS_PER_ROUND = 120
MIN_ROUNDS = 15
MODEL_COMMITS = 30


def _wait_synced(syncer: ServiceProcess, total: int) -> None:
    wait_until(
        lambda: [syncer.metric("datastack_lake_rows_synced_total", table=t) for t in RAW_TABLES],
        lambda counts: counts == [total] * 3,
        timeout=90,
        what="the syncer to catch up",
    )


def _commits(progress: Path) -> int:
    text = progress.read_text() if progress.exists() else ""
    return int(text) if text else 0


def test_syncer_model_writer_and_maintenance_together(
    lake_env: dict[str, str], source_pg: PostgresSettings, lake_settings: LakeSettings, tmp_path: Path
) -> None:
    insert_all(source_pg.conninfo(), 1_000_000, 10)  # the lake tables exist before the model writer
    env = {**lake_env, "SYNC_BATCH_ROWS": "2000", "LAKE_FILE_CLEANUP_DELAY": "0s"}
    stop_file = tmp_path / "stop-model-writer"
    progress = stop_file.with_name(stop_file.name + ".progress")
    rounds = 0

    def feed(done: threading.Event) -> None:
        """The sink's role: small committed inserts, for as long as the model writer is busy."""
        nonlocal rounds
        try:
            while rounds < MIN_ROUNDS or _commits(progress) < MODEL_COMMITS:
                insert_all(source_pg.conninfo(), 1 + rounds * ROWS_PER_ROUND, ROWS_PER_ROUND)
                rounds += 1
        finally:
            done.set()

    with ServiceProcess(["sync", "--interval", "0.1"], env) as syncer:
        wait_until(lambda: syncer.metric("datastack_lake_batches_total"), lambda n: n >= 3, timeout=60)
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.lake.model_writer", str(stop_file)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(lambda: _commits(progress), timeout=60, what="the model writer's first commit")
        fed = threading.Event()
        feeder = threading.Thread(target=feed, args=(fed,))
        feeder.start()
        maintenance: list[subprocess.CompletedProcess[str]] = []
        while not fed.is_set() or len(maintenance) < 2:
            run = subprocess.run(
                [DATASTACK, "lake", "maintain"], env=env, capture_output=True, text=True, timeout=120
            )
            maintenance.append(run)
        feeder.join()
        stop_file.touch()
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err[-3000:]
        total = rounds * ROWS_PER_ROUND + 10
        _wait_synced(syncer, total)
        sync_errors = syncer.metric("datastack_lake_sync_errors_total")
        code, seconds = syncer.stopped_within(signal.SIGTERM, timeout=25)
        logs = syncer.logs()

    model = json.loads(out.strip().splitlines()[-1])
    assert model["commits"] >= MODEL_COMMITS, model
    assert model["failures"] == 0, model["errors"]
    failures = [json.loads(line) for line in logs.splitlines() if '"level": "ERROR"' in line]
    assert sync_errors == 0, failures
    assert failures == []
    assert code == 0
    assert seconds < 20
    for run in maintenance:
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert json.loads(run.stdout)["errors"] == []
    # The writers really overlapped: syncer commits landed between the model writer's first and last.
    ((overlapping,),) = lake_rows(
        lake_settings,
        source_pg,
        f"SELECT count(*) FROM {STATE_TABLE} WHERE updated_at BETWEEN"  # noqa: S608 - fixed name
        " (SELECT min(refreshed_at) FROM analytics.refresh_log)"
        " AND (SELECT max(refreshed_at) FROM analytics.refresh_log)",
    )
    assert overlapping >= 10
    for table in RAW_TABLES:
        rows, distinct, checksum = lake_counts(lake_settings, source_pg, table)
        assert (rows, distinct, checksum) == source_counts(source_pg, table)


def test_dbt_run_on_the_lake_while_the_syncer_commits(
    lake_env: dict[str, str], source_pg: PostgresSettings, lake_settings: LakeSettings, tmp_path: Path
) -> None:
    insert_all(source_pg.conninfo(), 1_000_000, 10)
    # The syncer commits as often as its commit gap allows (every 0.5 s), each batch holding
    # whatever the feeder added meanwhile.
    env = {**lake_env, "SYNC_BATCH_ROWS": "5000"}
    assert lake_settings.data_path is not None
    dbt = dbt_env(
        source_pg, lake_settings.ducklake_catalog_db, lake_settings.data_path, artifacts_dir=tmp_path / "dbt"
    )
    rounds = 0
    dbt_done = threading.Event()

    def feed() -> None:
        nonlocal rounds
        while not dbt_done.is_set():
            insert_all(source_pg.conninfo(), 1 + rounds * ROWS_PER_ROUND, ROWS_PER_ROUND)
            rounds += 1

    with ServiceProcess(["sync", "--interval", "0.1"], env) as syncer:
        wait_until(lambda: syncer.metric("datastack_lake_commits_total"), lambda n: n >= 1, timeout=60)
        feeder = threading.Thread(target=feed)
        feeder.start()
        try:
            before = syncer.metric("datastack_lake_commits_total")
            # The first run creates every model; the second is incremental (delete+insert).
            runs = [run_dbt(["run"], dbt, check=False) for _ in range(2)]
            during = syncer.metric("datastack_lake_commits_total") - before
        finally:
            dbt_done.set()
            feeder.join()
        total = rounds * ROWS_PER_ROUND + 10
        _wait_synced(syncer, total)
        sync_errors = syncer.metric("datastack_lake_sync_errors_total")
        assert syncer.stop() == 0

    for run in runs:
        assert run.returncode == 0, run.output[-5000:]
        assert set(run.statuses().values()) == {"success"}
    assert len(runs[0].statuses()) == len(list((DBT_PROJECT_DIR / "models").rglob("*.sql")))
    assert during >= 10, "the syncer must have committed while dbt ran"
    assert sync_errors == 0
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)
