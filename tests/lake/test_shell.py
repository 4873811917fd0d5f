"""`lake shell` queries the lake read-only; `lake env` prints a recipe any DuckDB can use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb

from services.config import PostgresSettings
from services.lake.connect import ensure_extensions
from services.lake.settings import LakeSettings
from tests.lake.helpers import MakeSyncer
from tests.lake.rawrows import insert_all
from tests.support.proc import DATASTACK


def _datastack(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATASTACK, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_shell_sql_prints_results(
    make_syncer: MakeSyncer, lake_env: dict[str, str], source_pg: PostgresSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 42)
    make_syncer().run_cycle()

    csv_out = _datastack(
        lake_env, "lake", "shell", "--format", "csv", "--sql", "SELECT count(*) AS n FROM raw_crypto_prices"
    )
    assert csv_out.returncode == 0, csv_out.stderr
    assert csv_out.stdout == "n\n42\n"

    table = _datastack(
        lake_env, "lake", "shell", "--sql", "SELECT max(ingest_seq) AS top FROM raw_weather_data"
    )
    assert table.returncode == 0, table.stderr
    assert "top" in table.stdout
    assert "42" in table.stdout

    lines = _datastack(
        lake_env,
        "lake",
        "shell",
        "--with-source",
        "--format",
        "json",
        "--sql",
        "SELECT (SELECT count(*) FROM source.public.raw_github_events) AS pg,"
        " (SELECT count(*) FROM raw_github_events) AS lake",
    )
    assert json.loads(lines.stdout) == {"pg": 42, "lake": 42}


def test_shell_is_read_only_and_reports_errors(make_syncer: MakeSyncer, lake_env: dict[str, str]) -> None:
    make_syncer().run_cycle()
    denied = _datastack(lake_env, "lake", "shell", "--sql", "DELETE FROM raw_crypto_prices")
    assert denied.returncode == 1
    assert "read-only" in denied.stderr


def test_repl_reads_statements_from_stdin(make_syncer: MakeSyncer, lake_env: dict[str, str]) -> None:
    make_syncer().run_cycle()
    done = _datastack(
        lake_env, "lake", "shell", "--format", "csv", stdin="SELECT 40 +\n 2 AS answer;\n.tables\n.quit\n"
    )
    assert done.returncode == 0, done.stderr
    assert "answer\n42\n" in done.stdout
    assert "raw_crypto_prices" in done.stdout


def test_env_recipe_attaches_from_a_plain_duckdb(
    make_syncer: MakeSyncer,
    lake_env: dict[str, str],
    source_pg: PostgresSettings,
    lake_settings: LakeSettings,
) -> None:
    insert_all(source_pg.conninfo(), 1, 7)
    make_syncer().run_cycle()
    recipe = _datastack(lake_env, "lake", "env")
    assert recipe.returncode == 0, recipe.stderr
    password = source_pg.password.get_secret_value()
    assert password not in recipe.stdout

    # What a user pastes into any DuckDB, with the password in PGPASSWORD (read by libpq).
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    ensure_extensions(con, ["ducklake", "postgres"])  # the recipe's INSTALL would need the network
    previous = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = password
    try:
        for statement in con.extract_statements(recipe.stdout):
            if not statement.query.strip().upper().startswith("INSTALL"):
                con.execute(statement.query)
        assert con.execute("SELECT count(*) FROM raw_weather_data").fetchone() == (7,)
    finally:
        con.close()
        if previous is None:
            os.environ.pop("PGPASSWORD")
        else:
            os.environ["PGPASSWORD"] = previous

    described = json.loads(_datastack(lake_env, "lake", "env", "--format", "json").stdout)
    assert described["alias"] == "lake"
    assert described["data_path"] == lake_settings.data_path
    assert f"dbname={lake_settings.ducklake_catalog_db}" in described["attach_path"]


def test_shell_reads_a_copied_data_path(
    make_syncer: MakeSyncer,
    lake_env: dict[str, str],
    source_pg: PostgresSettings,
    lake_settings: LakeSettings,
    tmp_path: Path,
) -> None:
    """A cluster lake read from a laptop: catalog through a port-forward, files from a local copy."""
    insert_all(source_pg.conninfo(), 1, 30)
    make_syncer(sync_inline_row_limit=0).run_cycle()
    assert lake_settings.data_path
    copy = tmp_path / "copied-lake"
    shutil.copytree(lake_settings.data_path, copy)
    shutil.rmtree(lake_settings.data_path)  # prove the files are read from the copy
    env = {**lake_env, "DATA_PATH": str(copy), "DUCKLAKE_OVERRIDE_DATA_PATH": "true"}
    done = _datastack(
        env, "lake", "shell", "--format", "csv", "--sql", "SELECT count(*) AS n FROM raw_github_events"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "n\n30\n"
