"""Run each Dagster job as a run pod would (`dagster job execute`, one process plus dbt) and print its
duration and peak memory, the figures behind the pod sizes in dagster_code/lib/run_tags.py.

    .venv/bin/python -m tests.dagster.measure            # every job, twice (first: full build)
    .venv/bin/python -m tests.dagster.measure data_quality

Data: ~50 hours of contract-valid rows (tests/dbt/rawdata.py) in a fresh database and lake on the
local servers (`datastack infra up`), dropped afterwards. Memory is the peak of the summed RSS of
the run's whole process tree, sampled every 0.1 s. Figures, not pass/fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from services.infra import local
from services.sink.schema import migrate
from tests.dagster.pipeline import Landed
from tests.dbt import rawdata
from tests.dbt.helpers import sync_raw_to_lake
from tests.support.databases import fresh_database, settings_for

JOBS = ("realtime_analytics", "data_quality", "ingestion_audit")
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError):
        return 0


def measure(job: str, env: dict[str, str], log: Path) -> tuple[float, float, int, int]:
    """(seconds, CPU seconds, peak tree RSS, peak single-process RSS) of one run of `job`. CPU time
    is the better figure on a shared machine: wall time grows with everyone else's load."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [dagster, "job", "execute", "-m", "dagster_code.definitions", "-j", job],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        peak_tree = peak_one = 0
        while True:
            # wait4 reaps the run process with its rusage, which includes dbt (reaped by it).
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            sizes = [rss(p) for p in tree(proc.pid)]
            peak_tree, peak_one = max(peak_tree, sum(sizes)), max(peak_one, max(sizes, default=0))
            time.sleep(0.1)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{job} failed ({status}); see {log}")
    return seconds, usage.ru_utime + usage.ru_stime, peak_tree, peak_one


def main(jobs: list[str]) -> None:
    infra = local.up()
    work = Path(tempfile.mkdtemp(prefix="dagster-measure-"))
    with fresh_database(infra, "t_measure") as db, fresh_database(infra, "t_measure_lake") as catalog:
        pg = settings_for(infra, db)
        with psycopg.connect(pg.conninfo()) as conn:
            migrate(conn)
            rows = rawdata.generate(datetime.now(UTC))
            rawdata.insert(conn, rows)
        sync_raw_to_lake(pg, catalog, work / "lake")
        counts = {table: len(r) for table, r in rows.items()}
        print(f"rows: {counts}")
        env = {**os.environ, **Landed(pg, catalog, work / "lake").env(work / "scratch")}
        env.pop("DAGSTER_HOME", None)
        for attempt in ("first", "again"):
            for job in jobs:
                seconds, cpu, peak_tree, peak_one = measure(job, env, work / f"{job}-{attempt}.log")
                print(
                    f"dagster_{job}_{attempt}_seconds: {seconds:.1f}\n"
                    f"dagster_{job}_{attempt}_cpu_seconds: {cpu:.1f}\n"
                    f"dagster_{job}_{attempt}_peak_rss_mib: {peak_tree / 2**20:.0f}\n"
                    f"dagster_{job}_{attempt}_peak_process_rss_mib: {peak_one / 2**20:.0f}"
                )
    print(f"logs: {work}")


if __name__ == "__main__":
    main(sys.argv[1:] or list(JOBS))
