"""Fixtures for the lake tests: raw tables in a fresh PostgreSQL database (`pg_settings`), and a fresh
DuckLake per test whose catalog is its own PostgreSQL database and whose files live in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.config import PostgresSettings
from services.infra.local import LocalInfra
from services.lake.settings import LakeSettings
from services.lake.syncer import Syncer
from services.sink.schema import migrate
from tests.conftest import service_env
from tests.lake.helpers import MakeSyncer, sync_settings
from tests.support.databases import fresh_database


@pytest.fixture
def source_pg(pg_settings: PostgresSettings) -> PostgresSettings:
    """The raw tables, migrated and empty."""
    with psycopg.connect(pg_settings.conninfo()) as conn:
        migrate(conn)
    return pg_settings


@pytest.fixture
def catalog_db(infra: LocalInfra) -> Iterator[str]:
    """A fresh PostgreSQL database for the DuckLake catalog, owned by the application role."""
    with fresh_database(infra, "t_lake") as name:
        yield name


@pytest.fixture
def lake_settings(catalog_db: str, tmp_path: Path) -> LakeSettings:
    return LakeSettings(ducklake_catalog_db=catalog_db, data_path=str(tmp_path / "lake"))


@pytest.fixture
def make_syncer(source_pg: PostgresSettings, lake_settings: LakeSettings) -> Iterator[MakeSyncer]:
    """Build in-process syncers (closed at the end of the test)."""
    made: list[Syncer] = []

    def make(**overrides: Any) -> Syncer:
        syncer = Syncer(lake_settings, source_pg, sync_settings(**overrides))
        made.append(syncer)
        return syncer

    yield make
    for syncer in made:
        syncer.close()


@pytest.fixture
def lake_env(source_pg: PostgresSettings, lake_settings: LakeSettings) -> dict[str, str]:
    """Environment for `datastack sync` / `datastack lake ...` subprocesses on this test's lake."""
    return service_env(
        pg=source_pg,
        DUCKLAKE_CATALOG_DB=lake_settings.ducklake_catalog_db,
        DATA_PATH=str(lake_settings.data_path),
        LOG_LEVEL="INFO",
        SYNC_SETTLE_TIMEOUT_S="1",
    )
