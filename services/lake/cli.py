"""`datastack sync` and `datastack lake maintain|shell|env`."""

from __future__ import annotations

import json
import sys
from typing import cast

import click

from services.config import PostgresSettings, ServiceSettings, load
from services.runtime import configure_logging


@click.command("sync")
@click.option("--once", is_flag=True, help="Run one cycle (copy everything settled) and exit.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds between cycles in loop mode [env SYNC_INTERVAL_S, default 30].",
)
def sync(once: bool, interval: float | None) -> None:
    """Copy new raw rows from PostgreSQL into the DuckLake lake, incrementally."""
    from services.lake.runner import run_sync
    from services.lake.settings import LakeSettings, SyncSettings

    service = load(ServiceSettings)
    configure_logging(service.log_level, service.log_format, service="lake-sync")
    settings = load(SyncSettings)
    if interval is not None:
        settings = settings.model_copy(update={"sync_interval_s": interval})
    sys.exit(run_sync(load(LakeSettings), load(PostgresSettings), settings, service, once=once))


@click.group("lake")
def lake() -> None:
    """The DuckLake lakehouse: maintenance, an SQL shell, connection recipe."""


@lake.command("maintain")
def maintain() -> None:
    """Flush inlined rows, expire snapshots, merge small files, delete old files; prints JSON."""
    from services.lake.connect import connect
    from services.lake.maintenance import maintain as run_maintenance
    from services.lake.settings import LakeSettings, MaintenanceSettings

    service = load(ServiceSettings)
    configure_logging(service.log_level, service.log_format, service="lake-maintain")
    settings = load(MaintenanceSettings)
    con = connect(load(LakeSettings), load(PostgresSettings))
    try:
        summary = run_maintenance(con, settings)
    finally:
        con.close()
    click.echo(json.dumps(summary, indent=2, sort_keys=True))
    sys.exit(1 if summary["errors"] else 0)


@lake.command("shell")
@click.option("--sql", "sql_text", default=None, help="Run these statements, print results, exit.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--with-source", is_flag=True, help="Also attach the raw PostgreSQL tables as `source`.")
def shell(sql_text: str | None, fmt: str, with_source: bool) -> None:
    """DuckDB with the lake attached read-only (`USE lake` is already done)."""
    import duckdb

    from services.lake.connect import LAKE_ALIAS, connect
    from services.lake.settings import LakeSettings
    from services.lake.shell import Format, repl, run_sql

    configure_logging("WARNING", "console")
    con = connect(load(LakeSettings), load(PostgresSettings), read_only=True, attach_source=with_source)
    try:
        con.execute(f"USE {LAKE_ALIAS}")
        if sql_text is None:
            repl(con, cast(Format, fmt))
            return
        try:
            run_sql(con, sql_text, cast(Format, fmt))
        except duckdb.Error as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
    finally:
        con.close()


@lake.command("env")
@click.option("--read-write", is_flag=True, help="Omit READ_ONLY (for writers such as dbt).")
@click.option("--format", "fmt", type=click.Choice(["sql", "json"]), default="sql", show_default=True)
def env(read_write: bool, fmt: str) -> None:
    """Print the ATTACH recipe for any DuckDB (the password is never printed: use PGPASSWORD)."""
    from services.lake.connect import LAKE_ALIAS, attach_recipe, catalog_conninfo
    from services.lake.settings import LakeSettings

    lake_settings, pg = load(LakeSettings), load(PostgresSettings)
    if fmt == "sql":
        click.echo(attach_recipe(lake_settings, pg, read_only=not read_write))
        return
    click.echo(
        json.dumps(
            {
                "alias": LAKE_ALIAS,
                "attach_path": "ducklake:postgres:" + catalog_conninfo(lake_settings, pg),
                "data_path": lake_settings.data_path,
                "metadata_schema": lake_settings.ducklake_metadata_schema,
                "password_env": "PGPASSWORD",
            },
            indent=2,
        )
    )
