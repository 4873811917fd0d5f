"""dbt-duckdb plugin: dbt's DuckDB connection reaches the lake exactly as the services do.

The `lake` profile lists this module under `plugins:`. dbt-duckdb calls `configure_connection` on
its connection before it runs the profile's `attach:`, so here the extensions are loaded (offline,
from the PyPI packages) and the same settings and secrets as `services.lake.connect` are created
from the same environment variables: catalog overrides (DUCKLAKE_CATALOG_*), the metadata schema,
DATA_PATH with its S3 credentials, and the commit-retry settings. The profile then only attaches
`ducklake:datastack_lake` as `lake`. Nothing of it is duplicated in YAML, and no password ends up in
an ATTACH string that `dbt debug` would print.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from services.config import PostgresSettings, load
from services.lake.connect import ensure_extensions, extensions_for, lake_setup_statements
from services.lake.settings import LakeSettings


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        lake, pg = load(LakeSettings), load(PostgresSettings)
        ensure_extensions(conn, extensions_for(lake), lake.duckdb_extension_directory)
        for statement in lake_setup_statements(lake, pg):
            conn.execute(statement.sql, list(statement.params))
