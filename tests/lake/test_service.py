"""`datastack sync` as a long-running service: metrics, probes, one writer per lake, quick shutdown."""

from __future__ import annotations

import signal

import httpx
import psycopg
import pytest

from services.config import PostgresSettings
from services.lake.settings import LakeSettings
from services.lake.syncer import WriterLockHeldError
from services.lake.tables import RAW_TABLES
from tests.lake.helpers import MakeSyncer, lake_counts, source_counts
from tests.lake.rawrows import insert_all
from tests.support.proc import ServiceProcess
from tests.support.wait import wait_until


def _watermarks(proc: ServiceProcess) -> list[float]:
    return [proc.metric("datastack_lake_watermark_seq", table=t) for t in RAW_TABLES]


def test_loop_mode_metrics_probes_and_sigterm(lake_env: dict[str, str], source_pg: PostgresSettings) -> None:
    insert_all(source_pg.conninfo(), 1, 300)
    with ServiceProcess(["sync", "--interval", "0.2"], lake_env) as proc:
        wait_until(lambda: _watermarks(proc), lambda w: w == [300.0] * 3, timeout=60, what="first sync")
        insert_all(source_pg.conninfo(), 301, 20)
        wait_until(lambda: _watermarks(proc), lambda w: w == [320.0] * 3, timeout=60, what="next cycle")
        wait_until(lambda: proc.metric("datastack_lake_lag_seq"), lambda lag: lag == 0, timeout=30)
        base = f"http://127.0.0.1:{proc.metrics_port}"
        assert httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=2)
        assert ready.status_code == 200
        assert ready.json()["watermarks"] == dict.fromkeys(RAW_TABLES, 320)
        for table in RAW_TABLES:
            assert proc.metric("datastack_lake_rows_synced_total", table=table) == 320
        assert proc.metric("datastack_lake_commits_total") >= 2
        assert proc.metric("datastack_lake_sync_errors_total") == 0
        code, seconds = proc.stopped_within(signal.SIGTERM, timeout=25)
    assert code == 0
    assert seconds < 5


def test_second_syncer_on_the_same_lake_is_refused(make_syncer: MakeSyncer) -> None:
    first = make_syncer()
    first.open()
    with pytest.raises(WriterLockHeldError):
        make_syncer().open()
    first.close()
    make_syncer().open()  # the lock goes with the session


def test_sigterm_while_a_commit_is_stuck_still_exits_in_time(
    lake_env: dict[str, str], source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    """A batch that cannot finish (catalog locked) is abandoned within SHUTDOWN_TIMEOUT_S."""
    insert_all(source_pg.conninfo(), 1, 100)
    env = {**lake_env, "SHUTDOWN_TIMEOUT_S": "3"}
    catalog = lake_settings.catalog(source_pg).conninfo()
    with ServiceProcess(["sync", "--interval", "0.2"], env) as proc:
        wait_until(lambda: _watermarks(proc), lambda w: w == [100.0] * 3, timeout=60)
        with psycopg.connect(catalog) as blocker:
            blocker.execute("LOCK TABLE ducklake_snapshot IN ACCESS EXCLUSIVE MODE")
            insert_all(source_pg.conninfo(), 101, 50)
            wait_until(
                lambda: blocker.execute(
                    "SELECT count(*) FROM pg_locks"
                    " WHERE NOT granted AND relation = 'ducklake_snapshot'::regclass"
                ).fetchone(),
                lambda row: row is not None and row[0] > 0,
                timeout=30,
                what="the syncer to block on the catalog",
            )
            code, seconds = proc.stopped_within(signal.SIGTERM, timeout=25)
            blocker.rollback()
        logs = proc.logs()
    assert code == 0, logs[-3000:]
    assert seconds < 5
    assert "interrupting the running batch" in logs
    for table in RAW_TABLES:  # the abandoned batch left nothing behind
        assert lake_counts(lake_settings, source_pg, table)[0] == 100
    insert_all(source_pg.conninfo(), 151, 1)
    with ServiceProcess(["sync", "--interval", "0.2"], env) as proc:
        wait_until(lambda: _watermarks(proc), lambda w: w == [151.0] * 3, timeout=60)
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)
