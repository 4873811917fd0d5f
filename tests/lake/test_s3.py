"""DATA_PATH on S3: `datastack sync` and `datastack lake maintain` with the lake's files in a bucket,
through DuckDB's httpfs extension from PyPI. The bucket is served by moto's S3 server on localhost,
the stand-in for AWS S3 or MinIO (the one outside service we cannot run for real here); the
catalog, DuckDB and the services are real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.config import PostgresSettings
from services.lake.settings import LakeSettings
from services.lake.tables import RAW_TABLES
from tests.conftest import service_env
from tests.lake.helpers import lake_counts, source_counts
from tests.lake.rawrows import insert_all
from tests.support.proc import DATASTACK, free_port
from tests.support.wait import wait_until

BUCKET = "datastack-lake"


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """host:port of a local S3 server holding an empty bucket."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), timeout=30, what="the S3 server")
        assert httpx.put(f"{url}/{BUCKET}").status_code == 200
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _parquet_keys(endpoint: str, prefix: str) -> list[str]:
    listing = httpx.get(f"http://{endpoint}/{BUCKET}", params={"list-type": "2", "prefix": prefix}).text
    assert "<IsTruncated>false</IsTruncated>" in listing
    return [key for key in re.findall(r"<Key>([^<]+)</Key>", listing) if key.endswith(".parquet")]


def test_sync_and_maintenance_with_the_data_files_on_s3(
    s3_endpoint: str, source_pg: PostgresSettings, catalog_db: str
) -> None:
    settings = {
        "DUCKLAKE_CATALOG_DB": catalog_db,
        "DATA_PATH": f"s3://{BUCKET}/lake/",
        "S3_ENDPOINT": s3_endpoint,
        "S3_URL_STYLE": "path",
        "S3_USE_SSL": "false",
        "AWS_ACCESS_KEY_ID": "datastack-test",
        "AWS_SECRET_ACCESS_KEY": "datastack-test-secret",
    }
    env = service_env(pg=source_pg, **settings, SYNC_BATCH_ROWS="250", SYNC_INLINE_ROW_LIMIT="0")
    lake = LakeSettings(**{key.lower(): value for key, value in settings.items()})  # field = variable
    insert_all(source_pg.conninfo(), 1, 1000)

    sync = subprocess.run([DATASTACK, "sync", "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stderr[-3000:]
    synced = _parquet_keys(s3_endpoint, "lake/")
    assert len(synced) == 3 * 4  # 1000 rows per table in batches of 250, one file each
    for table in RAW_TABLES:
        assert lake_counts(lake, source_pg, table) == source_counts(source_pg, table)

    maintain_env = {**env, "LAKE_SNAPSHOT_RETENTION": "0s", "LAKE_FILE_CLEANUP_DELAY": "0s"}
    run = subprocess.run(
        [DATASTACK, "lake", "maintain"], env=maintain_env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["errors"] == []
    assert summary["files_merged"] >= 12
    assert len(_parquet_keys(s3_endpoint, "lake/")) < len(synced)  # merged, and the old files deleted
    for table in RAW_TABLES:
        assert lake_counts(lake, source_pg, table) == source_counts(source_pg, table)
