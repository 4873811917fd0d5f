"""A syncer killed mid-sync (kill -9) or stopped (SIGTERM) resumes to exactly N rows, no duplicates."""

from __future__ import annotations

import signal
import subprocess

from services.config import PostgresSettings
from services.lake.settings import LakeSettings
from services.lake.tables import RAW_TABLES
from tests.lake.helpers import lake_counts, source_counts
from tests.lake.rawrows import insert_all
from tests.support.proc import DATASTACK, ServiceProcess
from tests.support.wait import wait_until


def _lake_total(lake: LakeSettings, pg: PostgresSettings) -> int:
    return sum(lake_counts(lake, pg, table)[0] for table in RAW_TABLES)


def _assert_exact_copy(lake: LakeSettings, pg: PostgresSettings) -> None:
    for table in RAW_TABLES:
        rows, distinct, checksum = lake_counts(lake, pg, table)
        assert rows == distinct, f"duplicate natural keys in {table}"
        assert (rows, distinct, checksum) == source_counts(pg, table)


def _resume(env: dict[str, str]) -> None:
    done = subprocess.run([DATASTACK, "sync", "--once"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]


# Many small Parquet batches, committed back to back: the syncer is the only writer here, so it
# need not leave room between its commits (SYNC_MIN_COMMIT_GAP_S).
_SOLE_WRITER = {"SYNC_INLINE_ROW_LIMIT": "0", "SYNC_MIN_COMMIT_GAP_S": "0"}


def test_kill_9_mid_sync_then_resume(
    lake_env: dict[str, str], source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    n = 40_000
    insert_all(source_pg.conninfo(), 1, n)
    env = {**lake_env, "SYNC_BATCH_ROWS": "1500", **_SOLE_WRITER}
    with ServiceProcess(["sync", "--once"], env) as proc:
        wait_until(
            proc.logs,
            lambda logs: '"batch committed"' in logs or not proc.alive(),
            timeout=60,
            interval=0.01,
            what="the first committed batch",
        )
        proc.kill9()
    partial = _lake_total(lake_settings, source_pg)
    assert 0 < partial < 3 * n, partial
    _resume(env)
    _assert_exact_copy(lake_settings, source_pg)


def test_sigterm_mid_backlog_exits_zero_quickly_then_resumes(
    lake_env: dict[str, str], source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    n = 60_000
    insert_all(source_pg.conninfo(), 1, n)
    env = {**lake_env, "SYNC_BATCH_ROWS": "1000", **_SOLE_WRITER}
    with ServiceProcess(["sync", "--interval", "60"], env) as proc:
        wait_until(proc.logs, lambda logs: '"batch committed"' in logs, timeout=60, interval=0.01)
        code, seconds = proc.stopped_within(signal.SIGTERM, timeout=25)
        logs = proc.logs()
    assert code == 0, logs[-3000:]
    assert seconds < 20
    assert '"sync stopped"' in logs
    assert _lake_total(lake_settings, source_pg) < 3 * n  # it stopped mid-backlog
    _resume(env)
    _assert_exact_copy(lake_settings, source_pg)
