"""`make dev` (`datastack dev`), the README's first command: every child starts, data flows from the
replay producers through Kafka and the sink into PostgreSQL and on to the lake, Dagster comes up
(UI, daemon, code server) with its schedules running and its sensor launching a run, and Ctrl-C
stops the whole tree cleanly, Dagster's own processes included. It runs on the shared local
servers, default topics and database, as a developer's `make dev` does (Dagster's instance gets a
fresh database and home of its own); the assertions only rely on what this run itself does."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from services.contract import STREAMS
from services.infra import local
from services.infra.local import LocalInfra
from tests.dagster.stack import group_alive, listening
from tests.support.databases import fresh_database
from tests.support.proc import ServiceProcess, free_port, free_port_range, scrape
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

CHILDREN = ("crypto", "github", "weather", "sink", "sync")
DAGSTER_CHILDREN = ("dagster-code", "dagster-web", "dagster-daemon")
SCHEDULES = {"realtime_analytics_schedule", "data_quality_schedule", "ingestion_audit_schedule"}


def _max_ingest_seq() -> dict[str, int]:
    """Highest ingest_seq per raw table in the database `make dev` uses."""
    infra = local.current()
    conninfo = infra.postgres.conninfo(infra.env()["POSTGRES_DB"])
    with psycopg.connect(conninfo) as conn:
        return {
            stream.raw_table: conn.execute(
                sql.SQL("SELECT coalesce(max(ingest_seq), 0) FROM {}").format(
                    sql.Identifier(stream.raw_table)
                )
            ).fetchone()[0]
            for stream in STREAMS.values()
        }


def _serving(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _graphql(port: int, query: str) -> dict[str, Any]:
    try:
        body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return body.get("data") or {}


SCHEDULE_STATES = """
{ schedulesOrError(
    repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "datastack"}
  ) { ... on Schedules { results { name scheduleState { status } } } } }
"""
SENSOR_RUNS = """
{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "raw_data_lag_sensor"}]}) {
    ... on Runs { results { runId status } } } }
"""


def test_dev_runs_the_pipeline_and_dagster_and_stops_on_ctrl_c(infra: LocalInfra, tmp_path: Path) -> None:
    base = free_port_range(len(CHILDREN))
    ports = dict(zip(CHILDREN, range(base, base + len(CHILDREN)), strict=True))
    ui, grpc = free_port(), free_port()
    with fresh_database(infra, "t_dev_dagster") as dagster_db:
        args = [
            "dev",
            "--metrics-port-base", str(base),
            "--status-every", "1",
            "--sync-interval", "1",
            "--dagster-port", str(ui),
            "--dagster-grpc-port", str(grpc),
            "--dagster-home", str(tmp_path / "dagster"),
            "--dagster-db", dagster_db,
        ]  # fmt: skip
        with ServiceProcess(args, dict(os.environ)) as dev:
            wait_until(
                lambda: all(_serving(p) for p in ports.values()), timeout=60, what="every child healthy"
            )
            produced = wait_until(
                lambda: sum(
                    scrape(ports[p], "datastack_producer_messages_produced_total") for p in CHILDREN[:3]
                ),
                timeout=60,
                what="the producers to deliver",
            )
            assert produced > 0
            # Replayed keys may already be stored by an earlier `make dev`: written or skipped both count.
            wait_until(
                lambda: (
                    scrape(ports["sink"], "datastack_sink_rows_written_total")
                    + scrape(ports["sink"], "datastack_sink_duplicates_skipped_total")
                ),
                timeout=60,
                what="the sink to store this run's messages",
            )
            # Everything stored so far, this run's rows included, reaches the lake.
            stored = _max_ingest_seq()
            assert all(seq > 0 for seq in stored.values()), stored
            for table, seq in stored.items():
                wait_until(
                    lambda table=table: scrape(ports["sync"], "datastack_lake_watermark_seq", table=table),
                    lambda watermark, seq=seq: watermark >= seq,
                    timeout=90,
                    what=f"the lake watermark of {table} to pass {seq}",
                )
            wait_until(
                lambda: re.search(r"status \| raw_crypto_prices=[1-9]", dev.logs()),
                timeout=30,
                what="a status line with row counts",
            )
            # Dagster: the UI has loaded the code location, the schedules run without a click, and
            # the daemon evaluates sensors: the lag sensor has launched a first run.
            wait_until(
                lambda: f"Dagster UI ready: http://127.0.0.1:{ui}" in dev.logs(),
                timeout=240,
                interval=1,
                what="the Dagster UI to be ready",
            )
            states = _graphql(ui, SCHEDULE_STATES)["schedulesOrError"]["results"]
            assert {s["name"]: s["scheduleState"]["status"] for s in states} == dict.fromkeys(
                SCHEDULES, "RUNNING"
            )
            runs = wait_until(
                lambda: _graphql(ui, SENSOR_RUNS).get("runsOrError", {}).get("results"),
                timeout=180,
                interval=1,
                what="the lag sensor's first run",
            )
            assert runs[0]["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS")
            pids = {
                name: int(re.search(rf"started {name} \(pid (\d+)\)", dev.logs()).group(1))
                for name in DAGSTER_CHILDREN
            }  # type: ignore[union-attr]
            code, _ = dev.stopped_within(signal.SIGINT, timeout=60)
            logs = dev.logs()
    assert code == 0, logs[-3000:]
    for name in CHILDREN:
        assert f"started {name}: metrics http://127.0.0.1:{ports[name]}/metrics" in logs
        assert f"{name} exited with" not in logs
        assert not _serving(ports[name]), f"{name} still running after dev stopped"
    assert "did not stop" not in logs
    assert "stopped. infra keeps running" in logs
    # Each Dagster child ran in its own process group: nothing of it survives, nothing listens.
    assert [name for name, pid in pids.items() if group_alive(pid)] == []
    assert not listening(ui)
    assert not listening(grpc)
