"""The ATTACH recipe and the secrets it needs (no server needed: statements are checked as built, and
run against DuckDB up to the ATTACH)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from services.config import ConfigError, PostgresSettings, load
from services.lake.connect import (
    attach_recipe,
    catalog_conninfo,
    ensure_extensions,
    lake_statements,
    source_statements,
)
from services.lake.settings import LakeSettings, MaintenanceSettings, SyncSettings

PASSWORD = "p'w; DROP TABLE x; --"
PG = PostgresSettings(host="db.internal", port=5433, db="datastack", user="app", password=SecretStr(PASSWORD))
S3 = LakeSettings(
    data_path="s3://lake-bucket/datastack/",
    s3_endpoint="minio.minio.svc:9000",
    s3_region="eu-west-1",
    s3_use_ssl=False,
    s3_url_style="path",
    aws_access_key_id="AKIAEXAMPLE",
    aws_secret_access_key=SecretStr("s3-secret/+="),
)


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    ensure_extensions(con, ["ducklake", "postgres", "httpfs"])
    return con


def test_credentials_travel_as_parameters_never_as_sql_text() -> None:
    statements = lake_statements(S3, PG, read_only=False) + source_statements(PG)
    for statement in statements:
        assert PASSWORD not in statement.sql
        assert "s3-secret" not in statement.sql
    params = [p for s in statements for p in s.params]
    assert PASSWORD in params
    assert "s3-secret/+=" in params
    assert statements[-1].sql == "ATTACH '' AS source (TYPE postgres, SECRET datastack_source_pg, READ_ONLY)"


def test_statements_run_in_duckdb_and_build_the_right_secrets() -> None:
    statements = lake_statements(S3, PG, read_only=True)
    *setup, attach = statements
    assert attach.sql == "ATTACH 'ducklake:datastack_lake' AS lake (READ_ONLY)"
    con = _duckdb()
    try:
        for statement in setup:
            con.execute(statement.sql, list(statement.params))
        secrets = {
            name: text
            for name, text in con.execute("SELECT name, secret_string FROM duckdb_secrets()").fetchall()
        }
        settings = dict(
            con.execute("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'ducklake_%'").fetchall()
        )
    finally:
        con.close()
    s3 = secrets["datastack_s3"]
    for expected in (
        "type=s3",
        "endpoint=minio.minio.svc:9000",
        "region=eu-west-1",
        "url_style=path",
        "use_ssl=false",
        "key_id=AKIAEXAMPLE",
        "secret=redacted",
    ):
        assert expected in s3
    catalog = secrets["datastack_catalog_pg"]
    for expected in ("host=db.internal", "port=5433", "dbname=ducklake", "user=app", "password=redacted"):
        assert expected in catalog
    lake = secrets["datastack_lake"]
    assert "data_path=s3://lake-bucket/datastack/" in lake
    assert "datastack_catalog_pg" in lake
    assert settings["ducklake_max_retry_count"] == "30"
    assert settings["ducklake_retry_wait_ms"] == "50"
    assert settings["ducklake_retry_backoff"] == "1.1"


def test_local_data_path_needs_no_s3_secret() -> None:
    statements = lake_statements(LakeSettings(data_path="/data/lake"), PG, read_only=False)
    assert not any("TYPE s3" in s.sql for s in statements)
    assert statements[-1].sql == "ATTACH 'ducklake:datastack_lake' AS lake"


def test_catalog_defaults_to_postgres_settings_with_overrides() -> None:
    assert LakeSettings(ducklake_catalog_db="cat").catalog(PG).model_dump() == {
        **PG.model_dump(),
        "db": "cat",
    }
    override = LakeSettings(
        ducklake_catalog_db="cat",
        ducklake_catalog_host="catalog.internal",
        ducklake_catalog_user="lake",
        ducklake_catalog_password=SecretStr("other"),
        ducklake_catalog_sslmode="require",
    ).catalog(PG)
    assert (override.host, override.port, override.db, override.user, override.sslmode) == (
        "catalog.internal",
        5433,
        "cat",
        "lake",
        "require",
    )
    assert override.password.get_secret_value() == "other"


def test_recipe_has_no_password_and_quotes_conninfo_values() -> None:
    pg = PG.model_copy(update={"user": "data eng's"})
    lake = LakeSettings(
        ducklake_catalog_db="ducklake", data_path="/srv/it's lake", ducklake_metadata_schema="dl"
    )
    assert catalog_conninfo(lake, pg) == (
        "host=db.internal port=5433 dbname=ducklake user='data eng\\'s' sslmode=prefer"
    )
    recipe = attach_recipe(lake, pg)
    assert PASSWORD not in recipe
    assert (
        "ATTACH 'ducklake:postgres:host=db.internal port=5433 dbname=ducklake user=''data eng\\''s'' "
        "sslmode=prefer' AS lake (DATA_PATH '/srv/it''s lake', METADATA_SCHEMA 'dl', READ_ONLY);"
    ) in recipe
    s3_recipe = attach_recipe(S3, PG, read_only=False)
    assert "s3-secret" not in s3_recipe
    assert "SECRET '<AWS_SECRET_ACCESS_KEY>'" in s3_recipe
    assert "ENDPOINT 'minio.minio.svc:9000'" in s3_recipe
    assert "READ_ONLY" not in s3_recipe


def test_bad_settings_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_BATCH_ROWS", "0")
    with pytest.raises(ConfigError, match="SYNC_BATCH_ROWS"):
        load(SyncSettings)
    monkeypatch.setenv("LAKE_SNAPSHOT_RETENTION", "a week")
    with pytest.raises(ConfigError, match="LAKE_SNAPSHOT_RETENTION"):
        load(MaintenanceSettings)
    monkeypatch.setenv("S3_URL_STYLE", "virtual")
    with pytest.raises(ConfigError, match="S3_URL_STYLE"):
        load(LakeSettings)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("30s", 30),
        ("15m", 900),
        ("12h", 43200),
        ("7d", 604800),
        ("P1D", 86400),
        ("01:00:00", 3600),
    ],
)
def test_durations(monkeypatch: pytest.MonkeyPatch, text: str, seconds: int) -> None:
    monkeypatch.setenv("LAKE_ORPHAN_MIN_AGE", text)
    assert load(MaintenanceSettings).lake_orphan_min_age.total_seconds() == seconds


def test_override_data_path_for_readers_of_a_copied_lake() -> None:
    lake = LakeSettings(data_path="/mnt/copy-of-cluster-lake", ducklake_override_data_path=True)
    assert lake_statements(lake, PG, read_only=True)[-1].sql == (
        "ATTACH 'ducklake:datastack_lake' AS lake (READ_ONLY, OVERRIDE_DATA_PATH true)"
    )
    assert "(DATA_PATH '/mnt/copy-of-cluster-lake', READ_ONLY, OVERRIDE_DATA_PATH true);" in attach_recipe(
        lake, PG
    )


def test_extensions_load_from_a_prepared_directory(tmp_path: Path) -> None:
    """The images install the extensions at build time (DUCKDB_EXTENSION_DIRECTORY); a pod, whose
    root filesystem is read-only, then only loads them: nothing written, nothing downloaded."""
    directory = tmp_path / "extensions"
    build = duckdb.connect(config={"autoinstall_known_extensions": False})
    ensure_extensions(build, ("ducklake", "postgres"), str(directory))
    build.close()
    files = sorted(directory.rglob("*.duckdb_extension"))
    assert [p.name for p in files] == ["ducklake.duckdb_extension", "postgres_scanner.duckdb_extension"]
    before = {p: p.stat().st_mtime_ns for p in directory.rglob("*")}

    pod = duckdb.connect(config={"autoinstall_known_extensions": False})
    ensure_extensions(pod, ("ducklake", "postgres"), str(directory))
    loaded = pod.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
    pod.close()
    assert {"ducklake", "postgres_scanner"} <= {row[0] for row in loaded}
    assert {p: p.stat().st_mtime_ns for p in directory.rglob("*")} == before
