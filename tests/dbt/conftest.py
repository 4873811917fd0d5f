"""Fixtures for the dbt tests: one real `dbt build` per target per module, over the same raw rows.

`built` is parametrised over the two targets. For `postgres` it is a fresh database with the raw
tables migrated and seeded; for `lake` it is the same plus a fresh DuckLake (its own catalog
database and data folder) whose raw tables are copied from that database, as the syncer would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from services.config import PostgresSettings
from services.infra.local import LocalInfra
from services.sink.schema import migrate
from tests.dbt import rawdata
from tests.dbt.helpers import (
    DbtResult,
    dbt_env,
    lake_connection,
    lake_query,
    pg_query,
    run_dbt,
    sync_raw_to_lake,
)
from tests.support.databases import fresh_database, settings_for

SCHEMA = "analytics"


@dataclass
class Lake:
    catalog_db: str
    data_path: Path
    connection: duckdb.DuckDBPyConnection | None = None
    """An open DuckDB with this lake attached, for queries (attaching costs ~0.4 s each time)."""


@dataclass
class Built:
    """A target the project was built on, with ways to query and change its data."""

    target: str
    pg: PostgresSettings
    env: dict[str, str]
    rows: rawdata.RawRows
    build: DbtResult
    lake: Lake | None = None
    replayed_keys: list[str] = field(default_factory=list)

    def rel(self, name: str) -> str:
        """Fully qualified relation of a model."""
        return f"lake.{SCHEMA}.{name}" if self.lake else f"{SCHEMA}.{name}"

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of `sql` (no parameters) on the target, as dicts."""
        if self.lake and self.lake.connection:
            cursor = self.lake.connection.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if self.lake:
            return lake_query(self.pg, self.lake.catalog_db, self.lake.data_path, sql)
        return pg_query(self.pg, sql)

    def execute(self, sql: str) -> None:
        """Run one statement (no parameters) against the target."""
        if self.lake and self.lake.connection:
            self.lake.connection.execute(sql)
        elif self.lake:
            with lake_connection(self.pg, self.lake.catalog_db, self.lake.data_path) as con:
                con.execute(sql)
        else:
            with psycopg.connect(self.pg.conninfo(), autocommit=True) as conn:
                conn.execute(sql.encode())

    def land(self, rows: rawdata.RawRows) -> None:
        """Land new raw rows the way the pipeline does: insert into PostgreSQL (ingested_at defaults
        to now()), then, on the lake target, copy them across as the syncer would."""
        with psycopg.connect(self.pg.conninfo()) as conn:
            rawdata.insert(conn, rows)
        if self.lake:
            sync_raw_to_lake(self.pg, self.lake.catalog_db, self.lake.data_path)

    def dbt(self, *args: str) -> DbtResult:
        return run_dbt(list(args), self.env)


@pytest.fixture(scope="session")
def raw_rows() -> rawdata.RawRows:
    """~50 hours of contract-valid rows for the three raw tables, ending now."""
    return rawdata.generate(datetime.now(UTC))


@contextmanager
def raw_database(infra: LocalInfra, rows: rawdata.RawRows) -> Iterator[PostgresSettings]:
    """A fresh database with the raw tables migrated and `rows` inserted; dropped afterwards."""
    with fresh_database(infra, "t_dbt") as name:
        pg = settings_for(infra, name)
        with psycopg.connect(pg.conninfo()) as conn:
            migrate(conn)
            rawdata.insert(conn, rows)
        yield pg


@contextmanager
def fresh_lake(infra: LocalInfra, pg: PostgresSettings, data_path: Path) -> Iterator[Lake]:
    """A fresh DuckLake (own catalog database, data under `data_path`) holding copies of the raw
    tables of `pg`; the catalog database is dropped afterwards."""
    with fresh_database(infra, "t_lake") as catalog_db:
        data_path.mkdir(parents=True, exist_ok=True)
        sync_raw_to_lake(pg, catalog_db, data_path)
        yield Lake(catalog_db, data_path)


def replay_one_row(pg: PostgresSettings, lake: Lake) -> list[str]:
    """Copy the first crypto row into the lake a second time, byte for byte, as a replayed sync
    batch would; returns the duplicated natural keys."""
    with lake_connection(pg, lake.catalog_db, lake.data_path) as con:
        con.execute(
            "INSERT INTO lake.main.raw_crypto_prices "
            "SELECT * FROM lake.main.raw_crypto_prices ORDER BY ingest_seq LIMIT 1"
        )
        cursor = con.execute(
            "SELECT natural_key FROM lake.main.raw_crypto_prices GROUP BY natural_key HAVING count(*) > 1"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture(scope="module", params=["postgres", "lake"])
def built(
    request: pytest.FixtureRequest,
    infra: LocalInfra,
    raw_rows: rawdata.RawRows,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Built]:
    """The project built (`dbt build`: models, data tests and unit tests) on one target."""
    target: str = request.param
    work = tmp_path_factory.mktemp(f"dbt-{target}")
    with raw_database(infra, raw_rows) as pg:
        if target == "postgres":
            env = dbt_env(pg, schema=SCHEMA, artifacts_dir=work)
            yield Built(target, pg, env, raw_rows, run_dbt(["build"], env))
            return
        with fresh_lake(infra, pg, work / "lake") as lake:
            replayed = replay_one_row(pg, lake)
            env = dbt_env(pg, lake.catalog_db, lake.data_path, schema=SCHEMA, artifacts_dir=work)
            build = run_dbt(["build"], env)
            with lake_connection(pg, lake.catalog_db, lake.data_path) as connection:
                lake.connection = connection
                yield Built(target, pg, env, raw_rows, build, lake, replayed)
