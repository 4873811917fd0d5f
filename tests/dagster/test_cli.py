"""The original's two tools against a real Dagster (code server, webserver, daemon) started by the
fixtures on free ports: `datastack schedules` and `datastack assets check`, plus the lake job run
through the queue and the default run launcher, and a clean stop of the whole tree."""

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from dagster_code.lib import run_tags
from services.infra.local import LocalInfra
from services.sink.schema import migrate
from tests.dagster.conftest import SCHEDULES, LakeRuns, datastack
from tests.dagster.pipeline import Landed
from tests.dagster.stack import DagsterStack, group_alive, listening
from tests.dbt import rawdata
from tests.support.databases import fresh_database, settings_for
from tests.support.proc import free_port

# The fixtures behind these tests run dbt several times; on a loaded 2-core machine the default
# 300 s per test (fixture setup included) is not enough for the first test that needs them.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

REPORTS = ("crypto_market_summary", "developer_insights", "weather_analytics", "data_quality_report")


def test_schedules_lists_three_running_schedules_and_stops_them(stack: DagsterStack) -> None:
    assert stack.schedules is not None
    initial = stack.schedules.initial
    assert initial.returncode == 0, initial.stderr
    lines = {line.split()[0]: line for line in initial.stdout.splitlines() if not line.startswith(" ")}
    assert set(lines) == set(SCHEDULES)
    assert "*/5 * * * * (UTC)" in lines["realtime_analytics_schedule"]
    assert "2-59/15 * * * * (UTC)" in lines["data_quality_schedule"]
    assert "4-59/30 * * * * (UTC)" in lines["ingestion_audit_schedule"]
    assert all(" RUNNING " in line for line in lines.values())
    assert all(re.search(r"next \d{4}-\d\d-\d\d \d\d:\d\d:00Z", line) for line in lines.values())
    for name, stop in zip(SCHEDULES, stack.schedules.stops, strict=True):
        assert stop.returncode == 0, stop.stderr
        assert stop.stdout.strip() == f"{name}: STOPPED"


def test_schedules_start_and_stop_one(stack: DagsterStack) -> None:
    env = {**os.environ, **stack.env}
    started = datastack(["schedules", "--url", stack.url, "start", "data_quality_schedule"], env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "data_quality_schedule: RUNNING"
    listed = datastack(["schedules", "--url", stack.url], env)
    line = next(line for line in listed.stdout.splitlines() if line.startswith("data_quality_schedule"))
    assert " RUNNING " in line
    stopped = datastack(["schedules", "--url", stack.url, "stop", "data_quality_schedule"], env)
    assert stopped.stdout.strip() == "data_quality_schedule: STOPPED"
    unknown = datastack(["schedules", "--url", stack.url, "start", "no_such_schedule"], env)
    assert unknown.returncode == 2
    assert "no schedule named 'no_such_schedule'" in unknown.stderr
    assert "realtime_analytics_schedule" in unknown.stderr  # the known ones are listed


def test_assets_check_prints_four_green_reports(assets_check: subprocess.CompletedProcess[str]) -> None:
    assert assets_check.returncode == 0, assets_check.stdout + assets_check.stderr
    lines = assets_check.stdout.splitlines()
    for report in REPORTS:
        line = next((line for line in lines if report in line), "")
        assert line.startswith(f"✅ {report}"), assets_check.stdout
    assert "coins=" in assets_check.stdout
    assert "hottest_city=" in assets_check.stdout
    assert "most_active_repo=" in assets_check.stdout
    assert "❌" not in assets_check.stdout
    summary = lines[-1]
    assert re.fullmatch(r"4/4 assets succeeded \(100%\), \d+ checks passed, 0 failed", summary), summary


def test_lake_writers_queue_behind_each_other(lake_runs: LakeRuns) -> None:
    audit, maintenance = lake_runs.audit, lake_runs.maintenance
    assert audit["status"] == "SUCCESS", audit
    assert maintenance["status"] == "SUCCESS", maintenance
    for run in (audit, maintenance):
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags[run_tags.WRITES_TAG] == run_tags.LAKE
        assert json.loads(tags["dagster-k8s/config"])["container_config"]["resources"]["limits"]["memory"]
    # The second lake writer was held in the queue until the first had finished.
    assert maintenance["startTime"] >= audit["endTime"]


def test_schedules_show_the_last_runs_of_their_jobs(stack: DagsterStack, lake_runs: LakeRuns) -> None:
    listed = datastack(["schedules", "--url", stack.url], {**os.environ, **stack.env})
    assert listed.returncode == 0, listed.stderr
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in listed.stdout.splitlines():
        if line.startswith(" "):
            blocks[current].append(line.strip())
        else:
            current = line.split()[0]
            blocks[current] = []
    runs = blocks["ingestion_audit_schedule"]
    assert len(runs) == 2, runs
    ids = {lake_runs.audit["runId"][:8], lake_runs.maintenance["runId"][:8]}
    for line in runs:
        assert re.fullmatch(
            r"SUCCESS +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\d+(m\d\ds|s) +run (\w{8}) +\(manual\)", line
        ), line
        assert line.split("run ")[1][:8] in ids
    # `datastack assets check` materializes outside the schedules' jobs; nothing else ran them.
    assert blocks["realtime_analytics_schedule"] == ["no runs of realtime_analytics yet"]


def test_dagster_cli_lists_the_schedules_of_the_code_location(stack: DagsterStack) -> None:
    """`dagster schedule list` (and up/down) work against the running code location and the
    instance: through the workspace file, so the location is the one the UI and daemon know."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    workspace = str(stack.plan.home / "workspace.yaml")
    result = subprocess.run(
        [dagster, "schedule", "list", "-w", workspace],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in SCHEDULES:
        assert re.search(rf"Schedule: {name} \[STOPPED\]", result.stdout), result.stdout


def test_schedules_says_when_no_webserver_answers() -> None:
    result = datastack(
        ["schedules", "--url", f"http://127.0.0.1:{free_port()}"], dict(os.environ), timeout=60
    )
    assert result.returncode == 1
    assert "no Dagster webserver answers at http://127.0.0.1:" in result.stderr
    assert "make dev" in result.stderr


def test_assets_check_fails_and_names_the_broken_data(
    infra: LocalInfra, landed: Landed, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Weather rows outside the contract's range (a producer bug, inserted straight into the raw
    table): dbt's range tests and our checks stop the weather report, the tool says so and exits 1."""
    with fresh_database(infra, "t_cli_bad") as name:
        pg = settings_for(infra, name)
        with psycopg.connect(pg.conninfo()) as conn:
            migrate(conn)
            rows = rawdata.generate(datetime.now(UTC))["raw_weather_data"]
            for row in rows[:5]:
                row["temperature_c"] = 80.0
                row["payload"]["temperature_c"] = 80.0
            rawdata.insert(conn, {"raw_weather_data": rows})
        env = {
            **os.environ,
            **Landed(pg, landed.catalog_db, landed.data_path).env(tmp_path_factory.mktemp("bad")),
        }
        env.pop("DAGSTER_HOME", None)
        result = datastack(["assets", "check", "weather"], env)
    assert result.returncode == 1, result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith("❌ weather_analytics"), result.stdout
    assert "temperature" in result.stdout, result.stdout
    assert result.stdout.splitlines()[-1].startswith("0/1 assets succeeded (0%)")
    assert "datastack assets check -v" in result.stderr


def test_stack_stops_cleanly(stack: DagsterStack, lake_runs: LakeRuns) -> None:
    """Last in this module: stopping signals each Dagster process group; nothing is left running
    (code server's gRPC worker, run workers, dbt) and nothing listens any more."""
    pgids = stack.pgids
    ports = (stack.plan.port, stack.plan.grpc_port)
    assert all(listening(port) for port in ports)
    stack.stop()
    assert not any(listening(port) for port in ports)
    assert [pgid for pgid in pgids if group_alive(pgid)] == []
