"""Reusable helpers for running the dbt project against real PostgreSQL and DuckLake.

The same functions serve the dbt tests here and the end-to-end tests that feed the project rows which
went through the real pipeline (producers -> Kafka -> sink -> syncer):

    env = dbt_env(pg_settings)                                         # target postgres
    env = dbt_env(pg_settings, lake_catalog_db="lake_x", data_path=p)  # target lake
    run_dbt(["build"], env)                                            # raises DbtError with output

dbt runs as a subprocess of the project's own virtualenv, exactly as `make dbt-build` runs it, so the
test process never shares dbt's global state or a DuckDB handle with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from services.config import PostgresSettings
from tests.support.databases import postgres_env

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_BIN = Path(sys.executable).with_name("dbt")
RAW_TABLES = ("raw_crypto_prices", "raw_github_events", "raw_weather_data")


class DbtError(AssertionError):
    """A dbt command exited non-zero; the message carries its output."""


@dataclass(frozen=True)
class DbtResult:
    args: list[str]
    returncode: int
    output: str
    target_path: Path
    run_results: dict[str, Any] = field(default_factory=dict)

    def statuses(self) -> dict[str, str]:
        """unique_id -> status ('success', 'pass', 'warn', 'error', 'fail', 'skipped')."""
        return {r["unique_id"]: r["status"] for r in self.run_results.get("results", [])}

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.target_path / "manifest.json").read_text())  # type: ignore[no-any-return]


# -- environment and invocation -------------------------------------------------------------------


def dbt_env(
    pg: PostgresSettings,
    lake_catalog_db: str | None = None,
    data_path: str | Path | None = None,
    schema: str = "analytics",
    *,
    target: str | None = None,
    duckdb_path: str | Path | None = None,
    artifacts_dir: str | Path | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """The environment the dbt profile reads, for `pg` (raw tables) and optionally a DuckLake.

    `target` defaults to `lake` when a catalog database is given, else `postgres`. `artifacts_dir`
    (holding target/, logs/ and dbt-duckdb's file unless `duckdb_path` says otherwise) defaults to
    a fresh temp folder, so concurrent runs never share dbt's partial-parse state or the DuckDB
    file (which DuckDB locks).
    """
    if target is None:
        target = "lake" if lake_catalog_db else "postgres"
    if target == "lake" and (lake_catalog_db is None or data_path is None):
        raise ValueError("the lake target needs lake_catalog_db and data_path")
    artifacts = Path(artifacts_dir or tempfile.mkdtemp(prefix="dbt-"))
    artifacts.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "DBT_TARGET": target,
            "DBT_SCHEMA": schema,
            **postgres_env(pg),
            "DBT_TARGET_PATH": str(artifacts / "target"),
            "DBT_LOG_PATH": str(artifacts / "logs"),
            "DBT_DUCKDB_PATH": str(duckdb_path or artifacts / "dbt.duckdb"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false",
            "DBT_PRINTER_WIDTH": "120",
        }
    )
    if lake_catalog_db is not None:
        env["DUCKLAKE_CATALOG_DB"] = lake_catalog_db
    if data_path is not None:
        env["DATA_PATH"] = str(data_path)
    if threads is not None:
        env["DBT_THREADS"] = str(threads)
    return env


def run_dbt(
    args: Sequence[str],
    env: dict[str, str],
    *,
    check: bool = True,
    timeout: float = 600,
    project_dir: Path = DBT_PROJECT_DIR,
) -> DbtResult:
    """Run `dbt <args>` for the project with `env` (see `dbt_env`); raise DbtError on failure."""
    target_path = Path(env["DBT_TARGET_PATH"])
    cmd = [
        str(DBT_BIN),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target",
        env["DBT_TARGET"],
    ]
    run_results_file = target_path / "run_results.json"
    run_results_file.unlink(missing_ok=True)
    proc = subprocess.run(
        cmd, env=env, cwd=project_dir, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = proc.stdout + proc.stderr
    run_results = json.loads(run_results_file.read_text()) if run_results_file.exists() else {}
    result = DbtResult(list(args), proc.returncode, output, target_path, run_results)
    if check and proc.returncode != 0:
        raise DbtError(f"dbt {' '.join(args)} exited {proc.returncode}:\n{output[-20000:]}")
    return result


# -- databases ------------------------------------------------------------------------------------


def pg_query(
    pg: PostgresSettings, query: str | sql.Composable, params: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of `query` on the raw database as dicts."""
    statement = query.encode() if isinstance(query, str) else query
    with psycopg.connect(pg.conninfo(), row_factory=dict_row) as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


# -- DuckLake -------------------------------------------------------------------------------------


@contextmanager
def lake_connection(
    pg: PostgresSettings, catalog_db: str, data_path: str | Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with the DuckLake attached as `lake`, by the services' own code."""
    from services.lake.connect import connect
    from services.lake.settings import LakeSettings

    con = connect(LakeSettings(ducklake_catalog_db=catalog_db, data_path=str(data_path)), pg)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def sync_raw_to_lake(pg: PostgresSettings, catalog_db: str, data_path: str | Path) -> dict[str, int]:
    """Copy raw rows not yet in the lake with the real syncer (one cycle of `datastack sync`),
    creating `lake.main.<raw table>` on first use. Returns rows copied per table."""
    from services.lake.settings import LakeSettings, SyncSettings
    from services.lake.syncer import Syncer

    syncer = Syncer(
        LakeSettings(ducklake_catalog_db=catalog_db, data_path=str(data_path)), pg, SyncSettings()
    )
    try:
        return dict(syncer.run_cycle().rows)
    finally:
        syncer.close()


def lake_query(
    pg: PostgresSettings,
    catalog_db: str,
    data_path: str | Path,
    query: str,
    params: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows of `query` against the DuckLake (attached as `lake`) as dicts."""
    with lake_connection(pg, catalog_db, data_path) as con:
        cursor = con.execute(query, params or [])
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
