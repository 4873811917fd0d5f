"""Resources: PostgreSQL, the DuckLake lake and dbt, configured from the variables the services read.

No second configuration system: the variables every deployment sets (`datastack infra env`, the
Helm values) reach the resources through `dg.EnvVar`, so the UI shows which variable feeds which
field and a missing one fails the run naming it. Everything optional (POSTGRES_SSLMODE, DATA_PATH,
DUCKLAKE_CATALOG_* overrides, S3_*, DUCKLAKE_RETRY_*, LAKE_*) is read at run time by the services'
own settings classes, so defaults and validation live in one place. dbt reads the same environment
through dbt_project/profiles.yml, so dbt and the reports always see the same databases.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psycopg
from dagster_dbt import DbtCliResource
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import SecretStr, ValidationError

from dagster_code.lib.dbt.project import dbt_project
from dagster_code.lib.locks import advisory_lock
from dagster_code.lib.settings import AnalyticsSettings
from services.config import ConfigError, PostgresSettings, load
from services.lake.settings import LakeSettings, MaintenanceSettings

APPLICATION_NAME = "datastack-dagster"


class PostgresResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The raw tables and the postgres-target marts (POSTGRES_*, as the sink and dbt read them)."""

    host: str
    port: int
    db: str
    user: str
    password: str

    def settings(self) -> PostgresSettings:
        """The services' settings object: POSTGRES_SSLMODE and validation come from there."""
        try:
            return PostgresSettings(
                host=self.host,
                port=self.port,
                db=self.db,
                user=self.user,
                password=SecretStr(self.password),
            )
        except ValidationError as exc:
            raise ConfigError(f"invalid PostgreSQL settings: {exc}") from None

    def conninfo(self, dbname: str | None = None) -> str:
        return self.settings().conninfo(dbname)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A read-mostly connection in autocommit mode, rows as dicts."""
        with psycopg.connect(
            self.conninfo(), autocommit=True, row_factory=dict_row, application_name=APPLICATION_NAME
        ) as conn:
            yield conn

    def query(self, query: sql.SQL | sql.Composed | str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of one statement as dicts; identifiers composed with psycopg.sql, values as params."""
        with self.connect() as conn:
            return list(conn.execute(query, params).fetchall())

    def analytics_schema(self) -> str:
        """DBT_SCHEMA: where dbt built the marts."""
        return load(AnalyticsSettings).dbt_schema

    def relation(self, model: str) -> sql.Composed:
        """`"<DBT_SCHEMA>"."<model>"`, quoted."""
        return sql.SQL("{}.{}").format(sql.Identifier(self.analytics_schema()), sql.Identifier(model))

    @contextmanager
    def analytics_lock(self) -> Iterator[None]:
        """Exclusive right to write the dbt schema in this database (see lib/locks.py)."""
        settings = self.settings()
        with advisory_lock(self.conninfo(), f"datastack:dbt:{settings.db}:{self.analytics_schema()}"):
            yield


class LakeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The DuckLake lake, opened by the services' own code (services.lake.connect)."""

    postgres: PostgresResource
    catalog_db: str
    """DUCKLAKE_CATALOG_DB."""

    def settings(self) -> LakeSettings:
        """DATA_PATH, DUCKLAKE_CATALOG_* overrides, S3_* and retries as the syncer reads them."""
        base = load(LakeSettings)
        return base.model_copy(update={"ducklake_catalog_db": self.catalog_db})

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB with the lake attached as `lake`. DuckDB spills to TMPDIR (an emptyDir
        in Kubernetes), never to the working directory, which is read-only in the image."""
        from services.lake.connect import connect

        con = connect(self.settings(), self.postgres.settings(), read_only=read_only)
        try:
            spill = Path(tempfile.gettempdir()) / "datastack-duckdb"
            con.execute("SET temp_directory = ?", [str(spill)])
            yield con
        finally:
            con.close()

    def maintenance_settings(self) -> MaintenanceSettings:
        return load(MaintenanceSettings)

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One Dagster writer of the lake at a time; the lock lives in the catalog database, which
        every writer of this lake reaches, wherever it runs."""
        catalog = self.settings().catalog(self.postgres.settings())
        with advisory_lock(catalog.conninfo(), f"datastack:lake:{catalog.db}"):
            yield


def postgres_from_env() -> PostgresResource:
    return PostgresResource(
        host=dg.EnvVar("POSTGRES_HOST"),
        port=dg.EnvVar.int("POSTGRES_PORT"),
        db=dg.EnvVar("POSTGRES_DB"),
        user=dg.EnvVar("POSTGRES_USER"),
        password=dg.EnvVar("POSTGRES_PASSWORD"),
    )


def dbt_executable() -> str:
    """The dbt of this interpreter's environment: `.venv/bin/python` works without activating the
    venv, and the image has one environment anyway."""
    return str(Path(sys.executable).with_name("dbt"))


def resources() -> dict[str, Any]:
    """Every resource the definitions need, by key."""
    postgres = postgres_from_env()
    return {
        "postgres": postgres,
        "lake": LakeResource(postgres=postgres, catalog_db=dg.EnvVar("DUCKLAKE_CATALOG_DB")),
        "dbt": DbtCliResource(
            project_dir=dbt_project("postgres"), target="postgres", dbt_executable=dbt_executable()
        ),
        "dbt_lake": DbtCliResource(
            project_dir=dbt_project("lake"), target="lake", dbt_executable=dbt_executable()
        ),
    }
