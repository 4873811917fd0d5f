"""dbt's DuckDB connection reaches the lake through `services.lake.dbt_plugin`, i.e. with the
syncer's own settings: a non-default metadata schema and retry settings taken from the environment
must show up exactly as they would for the syncer."""

from __future__ import annotations

import duckdb
import psycopg
import pytest
from dbt.adapters.duckdb.plugins import BasePlugin

from services.config import PostgresSettings
from services.lake.connect import connect
from services.lake.settings import LakeSettings

pytestmark = pytest.mark.integration


def test_plugin_opens_the_lake_with_the_services_settings(
    monkeypatch: pytest.MonkeyPatch,
    lake_env: dict[str, str],
    pg_settings: PostgresSettings,
    lake_settings: LakeSettings,
) -> None:
    for key, value in {
        **lake_env,
        "DUCKLAKE_METADATA_SCHEMA": "lake_meta",
        "DUCKLAKE_MAX_RETRY_COUNT": "7",
    }.items():
        monkeypatch.setenv(key, value)
    plugin = BasePlugin.create("services.lake.dbt_plugin")
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        plugin.configure_connection(con)
        # What the profile's `attach:` then runs.
        con.execute("ATTACH 'ducklake:datastack_lake' AS lake")
        con.execute("CREATE TABLE lake.main.t AS SELECT 42 AS answer")
        assert con.execute("SELECT current_setting('ducklake_max_retry_count')").fetchone() == (7,)
    finally:
        con.close()

    catalog = pg_settings.conninfo(lake_settings.ducklake_catalog_db)
    with psycopg.connect(catalog) as conn:
        (tables,) = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'lake_meta'"
        ).fetchone() or (0,)
        assert tables > 10  # DuckLake's metadata tables, in our schema
    # The syncer's own connection, configured the same way, sees the table.
    same = lake_settings.model_copy(update={"ducklake_metadata_schema": "lake_meta"})
    reader = connect(same, pg_settings, read_only=True)
    try:
        assert reader.execute("SELECT answer FROM lake.main.t").fetchone() == (42,)
    finally:
        reader.close()
