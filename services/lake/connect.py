"""The one place that opens DuckDB with the lake attached (syncer, maintenance, shell, tests).

Recipe, for any other DuckDB client (dbt-duckdb, notebooks); `datastack lake env` prints it filled in:

    LOAD ducklake; LOAD postgres;                 -- plus httpfs when DATA_PATH is s3://
    SET ducklake_max_retry_count = 30; SET ducklake_retry_wait_ms = 50; SET ducklake_retry_backoff = 1.1;
    -- the password comes from PGPASSWORD (libpq), never from the ATTACH string
    ATTACH 'ducklake:postgres:host=<POSTGRES_HOST> port=<POSTGRES_PORT> dbname=<DUCKLAKE_CATALOG_DB>
            user=<POSTGRES_USER> sslmode=<POSTGRES_SSLMODE>' AS lake (DATA_PATH '<DATA_PATH>');

dbt-duckdb does not take that recipe: its profile loads `services.lake.dbt_plugin`, which runs the
same statements as the services on dbt's connection, and attaches `ducklake:datastack_lake`. The
alias is always `lake` and lake tables live in schema `main` (`lake.main.raw_crypto_prices`).

In-process we do not put credentials in a connection string: DuckDB cannot bind parameters in ATTACH,
but it can in CREATE SECRET, so the catalog credentials go into a `postgres` secret, the DuckLake
settings into a `ducklake` secret that refers to it, and ATTACH names only the secret.

Retries: DuckLake commits by inserting the next snapshot id into the catalog; when two writers (the
syncer, dbt, `lake maintain`) race for the same id, the loser checks for logical conflicts and, if
there are none (appends, or writes to different tables), retries its metadata commit without
rewriting data files, waiting retry_wait_ms * backoff^attempt * a random 0.5-1.0 in between. With
DuckLake's defaults (10 retries, 100 ms, x1.5) the concurrency test (syncer + a model writer +
maintenance, committing continuously) gave up on a commit in 2 of 4 runs; with ours, more and
shorter waits (30 retries from 50 ms, x1.1: about 6 s in total before giving up), 0 of 11.
Retries are not fair, though: a writer committing faster than another's commit takes can make it
lose every time, hence the syncer's SYNC_MIN_COMMIT_GAP_S (services/lake/README.md).
Set per connection: DUCKLAKE_MAX_RETRY_COUNT, DUCKLAKE_RETRY_WAIT_MS, DUCKLAKE_RETRY_BACKOFF.

Extensions come from the duckdb-extension-* PyPI packages (no network at run time): installed into
DuckDB's extension directory on first use, then loaded by name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import duckdb

from services.config import PostgresSettings
from services.lake.settings import LakeSettings

LAKE_ALIAS: Final = "lake"
SOURCE_ALIAS: Final = "source"

_CATALOG_CREDENTIALS: Final = "datastack_catalog_pg"
_SOURCE_CREDENTIALS: Final = "datastack_source_pg"
LAKE_SECRET: Final = "datastack_lake"  # noqa: S105 - a secret's name, not a password
"""The ducklake secret holding the lake's settings: `ATTACH 'ducklake:datastack_lake' AS lake`."""
_S3_CREDENTIALS: Final = "datastack_s3"
_APPLICATION_NAME: Final = "datastack-lake"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Sequence[object] = field(default_factory=tuple)


def ensure_extensions(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], directory: str | None = None
) -> None:
    """Install (from the PyPI packages, offline) any extension not yet installed, then load it.
    `directory`: DUCKDB_EXTENSION_DIRECTORY (LakeSettings), where they are installed and looked for."""
    if directory:
        con.execute("SET extension_directory = ?", [directory])
    for name in names:
        row = con.execute(
            "SELECT installed FROM duckdb_extensions() WHERE extension_name = ? OR list_contains(aliases, ?)",
            [name, name],
        ).fetchone()
        if not (row and row[0]):
            import duckdb_extensions

            duckdb_extensions.import_extension(name, con=con)
        con.execute(f"LOAD {name}")  # names come from the fixed tuple in `extensions_for`


def _pg_secret(name: str, pg: PostgresSettings) -> Statement:
    return Statement(
        f"CREATE OR REPLACE SECRET {name} (TYPE postgres, HOST ?, PORT ?, DATABASE ?, USER ?, "
        "PASSWORD ?, SSLMODE ?, APPLICATION_NAME ?)",
        (
            pg.host,
            pg.port,
            pg.db,
            pg.user,
            pg.password.get_secret_value(),
            pg.sslmode,
            _APPLICATION_NAME,
        ),
    )


def s3_secret(lake: LakeSettings) -> Statement:
    """The S3 secret httpfs uses for an s3:// DATA_PATH (only the options that are set)."""
    options: list[tuple[str, object]] = [
        ("REGION", lake.s3_region),
        ("URL_STYLE", lake.s3_url_style),
        ("USE_SSL", lake.s3_use_ssl),
    ]
    if lake.s3_endpoint:
        options.append(("ENDPOINT", lake.s3_endpoint))
    if lake.aws_access_key_id:
        options.append(("KEY_ID", lake.aws_access_key_id))
    if lake.aws_secret_access_key:
        options.append(("SECRET", lake.aws_secret_access_key.get_secret_value()))
    if lake.aws_session_token:
        options.append(("SESSION_TOKEN", lake.aws_session_token.get_secret_value()))
    keys = "".join(f", {key} ?" for key, _ in options)
    return Statement(
        f"CREATE OR REPLACE SECRET {_S3_CREDENTIALS} (TYPE s3, PROVIDER config{keys})",
        tuple(value for _, value in options),
    )


def extensions_for(lake: LakeSettings) -> tuple[str, ...]:
    return ("ducklake", "postgres", "httpfs") if lake.uses_s3 else ("ducklake", "postgres")


def lake_setup_statements(lake: LakeSettings, pg: PostgresSettings) -> list[Statement]:
    """Retry settings and secrets, after which `ATTACH 'ducklake:<LAKE_SECRET>'` reaches the lake."""
    statements = [
        Statement("SET ducklake_max_retry_count = ?", (lake.ducklake_max_retry_count,)),
        Statement("SET ducklake_retry_wait_ms = ?", (lake.ducklake_retry_wait_ms,)),
        Statement("SET ducklake_retry_backoff = ?", (lake.ducklake_retry_backoff,)),
        _pg_secret(_CATALOG_CREDENTIALS, lake.catalog(pg)),
    ]
    if lake.uses_s3:
        statements.append(s3_secret(lake))
    options: list[tuple[str, object]] = []
    if lake.data_path:
        options.append(("DATA_PATH", lake.data_path))
    if lake.ducklake_metadata_schema:
        options.append(("METADATA_SCHEMA", lake.ducklake_metadata_schema))
    keys = "".join(f", {key} ?" for key, _ in options)
    statements.append(
        Statement(
            f"CREATE OR REPLACE SECRET {LAKE_SECRET} (TYPE ducklake, METADATA_PATH '', "
            f"METADATA_PARAMETERS MAP {{'TYPE': 'postgres', 'SECRET': '{_CATALOG_CREDENTIALS}'}}{keys})",
            tuple(value for _, value in options),
        )
    )
    return statements


def lake_statements(lake: LakeSettings, pg: PostgresSettings, *, read_only: bool) -> list[Statement]:
    """Everything after loading extensions that makes `lake` usable, in order."""
    statements = lake_setup_statements(lake, pg)
    flags = ["READ_ONLY"] if read_only else []
    if lake.ducklake_override_data_path:
        flags.append("OVERRIDE_DATA_PATH true")
    suffix = f" ({', '.join(flags)})" if flags else ""
    statements.append(Statement(f"ATTACH 'ducklake:{LAKE_SECRET}' AS {LAKE_ALIAS}{suffix}"))
    return statements


def source_statements(pg: PostgresSettings) -> list[Statement]:
    """Attach the raw-table database read-only through the postgres extension."""
    return [
        _pg_secret(_SOURCE_CREDENTIALS, pg),
        Statement(f"ATTACH '' AS {SOURCE_ALIAS} (TYPE postgres, SECRET {_SOURCE_CREDENTIALS}, READ_ONLY)"),
    ]


def connect(
    lake: LakeSettings,
    pg: PostgresSettings,
    *,
    read_only: bool = False,
    attach_source: bool = False,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as `lake` (and the raw database as `source`)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        ensure_extensions(con, extensions_for(lake), lake.duckdb_extension_directory)
        statements = lake_statements(lake, pg, read_only=read_only)
        if attach_source:
            statements += source_statements(pg)
        for statement in statements:
            con.execute(statement.sql, list(statement.params))
    except BaseException:
        con.close()
        raise
    return con


# -- the copy-paste recipe ------------------------------------------------------------------------
def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _conninfo_value(value: str) -> str:
    """libpq keyword/value quoting: bare when safe, else single-quoted with \\ escapes."""
    if value and re.fullmatch(r"[A-Za-z0-9_.:/@+-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def catalog_conninfo(lake: LakeSettings, pg: PostgresSettings) -> str:
    """libpq keyword/value string of the catalog database, without the password."""
    cat = lake.catalog(pg)
    parts = {"host": cat.host, "port": str(cat.port), "dbname": cat.db, "user": cat.user}
    parts["sslmode"] = cat.sslmode
    return " ".join(f"{key}={_conninfo_value(value)}" for key, value in parts.items())


def attach_recipe(lake: LakeSettings, pg: PostgresSettings, *, read_only: bool = True) -> str:
    """SQL to paste into any DuckDB >= 1.5 to reach the same lake (password via PGPASSWORD)."""
    lines = [
        "-- password: export PGPASSWORD=... (libpq reads it; it is never part of the ATTACH string)",
        "INSTALL ducklake; INSTALL postgres; LOAD ducklake; LOAD postgres;",
    ]
    if lake.uses_s3:
        s3 = [f"REGION {sql_literal(lake.s3_region)}", f"URL_STYLE {sql_literal(lake.s3_url_style)}"]
        s3.append(f"USE_SSL {str(lake.s3_use_ssl).lower()}")
        if lake.s3_endpoint:
            s3.append(f"ENDPOINT {sql_literal(lake.s3_endpoint)}")
        s3.append(f"KEY_ID {sql_literal(lake.aws_access_key_id or '<AWS_ACCESS_KEY_ID>')}")
        s3.append("SECRET '<AWS_SECRET_ACCESS_KEY>'")
        lines.append("INSTALL httpfs; LOAD httpfs;")
        lines.append(f"CREATE OR REPLACE SECRET {_S3_CREDENTIALS} (TYPE s3, {', '.join(s3)});")
    lines.append(
        f"SET ducklake_max_retry_count = {lake.ducklake_max_retry_count}; "
        f"SET ducklake_retry_wait_ms = {lake.ducklake_retry_wait_ms}; "
        f"SET ducklake_retry_backoff = {lake.ducklake_retry_backoff};"
    )
    options = []
    if lake.data_path:
        options.append(f"DATA_PATH {sql_literal(lake.data_path)}")
    if lake.ducklake_metadata_schema:
        options.append(f"METADATA_SCHEMA {sql_literal(lake.ducklake_metadata_schema)}")
    if read_only:
        options.append("READ_ONLY")
    if lake.ducklake_override_data_path:
        options.append("OVERRIDE_DATA_PATH true")
    target = sql_literal("ducklake:postgres:" + catalog_conninfo(lake, pg))
    suffix = f" ({', '.join(options)})" if options else ""
    lines.append(f"ATTACH {target} AS {LAKE_ALIAS}{suffix};")
    lines.append(f"USE {LAKE_ALIAS};")
    return "\n".join(lines)
