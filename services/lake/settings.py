"""Settings for the lake: where the catalog and the data files live, and how the syncer and the
maintenance job behave. Same pattern as `services.config`: frozen, typed, built once with `load()`.

The catalog is a PostgreSQL database on the same server and credentials as the raw tables
(`POSTGRES_*`) unless a `DUCKLAKE_CATALOG_*` override is set.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.config import PostgresSettings

_BASE = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: object) -> object:
    """`90`, `30s`, `15m`, `12h`, `7d` -> timedelta; anything else goes to pydantic (`P7D`, `01:00:00`)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class LakeSettings(BaseSettings):
    """Field names are the environment variable names (lower-cased)."""

    model_config = _BASE

    ducklake_catalog_db: str = Field("ducklake", min_length=1)
    """DUCKLAKE_CATALOG_DB: PostgreSQL database holding the DuckLake catalog (metadata tables)."""
    ducklake_catalog_host: str | None = None
    """DUCKLAKE_CATALOG_HOST: defaults to POSTGRES_HOST."""
    ducklake_catalog_port: int | None = Field(None, ge=1, le=65535)
    """DUCKLAKE_CATALOG_PORT: defaults to POSTGRES_PORT."""
    ducklake_catalog_user: str | None = None
    """DUCKLAKE_CATALOG_USER: defaults to POSTGRES_USER."""
    ducklake_catalog_password: SecretStr | None = None
    """DUCKLAKE_CATALOG_PASSWORD: defaults to POSTGRES_PASSWORD."""
    ducklake_catalog_sslmode: (
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None
    ) = None
    """DUCKLAKE_CATALOG_SSLMODE: defaults to POSTGRES_SSLMODE."""
    ducklake_metadata_schema: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """DUCKLAKE_METADATA_SCHEMA: schema of the metadata tables in the catalog database (DuckLake's
    default, `public`, when unset). Every client must use the same value."""
    data_path: str | None = None
    """DATA_PATH: where Parquet files go: a directory or `s3://bucket/prefix/`. Stored in the catalog
    when the lake is created; later clients may omit it."""
    ducklake_override_data_path: bool = False
    """DUCKLAKE_OVERRIDE_DATA_PATH: read the files from DATA_PATH although the catalog recorded
    another path (a copy of a cluster volume, another mount point). For readers only."""
    duckdb_extension_directory: str | None = None
    """DUCKDB_EXTENSION_DIRECTORY: where DuckDB keeps installed extensions (DuckDB's default,
    ~/.duckdb/extensions, when unset). The images point it at a directory filled at build time, so
    a pod loads the extensions from the read-only image instead of copying ~100 MB at every start."""

    s3_endpoint: str | None = None
    """S3_ENDPOINT: host[:port] of an S3-compatible store (MinIO, R2); unset for AWS."""
    s3_region: str = "us-east-1"
    """S3_REGION."""
    s3_use_ssl: bool = True
    """S3_USE_SSL."""
    s3_url_style: Literal["vhost", "path"] = "vhost"
    """S3_URL_STYLE: `path` for MinIO."""
    aws_access_key_id: str | None = None
    """AWS_ACCESS_KEY_ID."""
    aws_secret_access_key: SecretStr | None = None
    """AWS_SECRET_ACCESS_KEY."""
    aws_session_token: SecretStr | None = None
    """AWS_SESSION_TOKEN: for temporary credentials."""

    ducklake_max_retry_count: int = Field(30, ge=0, le=1000)
    """DUCKLAKE_MAX_RETRY_COUNT: commit retries after a snapshot-id race with another writer."""
    ducklake_retry_wait_ms: int = Field(50, ge=0)
    """DUCKLAKE_RETRY_WAIT_MS: wait before the first retry."""
    ducklake_retry_backoff: float = Field(1.1, ge=1.0)
    """DUCKLAKE_RETRY_BACKOFF: factor by which the wait grows after each retry."""

    def catalog(self, pg: PostgresSettings) -> PostgresSettings:
        """Connection settings of the catalog database: POSTGRES_* with the overrides applied."""
        update: dict[str, object] = {"db": self.ducklake_catalog_db}
        for field in ("host", "port", "user", "password", "sslmode"):
            value = getattr(self, f"ducklake_catalog_{field}")
            if value is not None:
                update[field] = value
        return pg.model_copy(update=update)

    @property
    def uses_s3(self) -> bool:
        return bool(self.data_path and self.data_path.startswith(("s3://", "s3a://", "s3n://")))


class SyncSettings(BaseSettings):
    model_config = _BASE

    sync_interval_s: float = Field(30.0, gt=0)
    """SYNC_INTERVAL_S: pause between sync cycles in loop mode."""
    sync_batch_rows: int = Field(250_000, ge=1)
    """SYNC_BATCH_ROWS: most rows per lake transaction (and so per Parquet file)."""
    sync_inline_row_limit: int = Field(100, ge=0)
    """SYNC_INLINE_ROW_LIMIT: batches of at most this many rows are inlined into the catalog instead
    of each becoming a tiny Parquet file; `lake maintain` flushes them into one file. 0 disables.
    Kept small on purpose: an inlined insert carries its rows inside the catalog commit, which costs
    ~0.13 ms per row (100 rows: 16 ms vs 9 ms as Parquet; 2,000 rows: 0.5 s; 10,000 rows: 12 s)
    and holds the commit window open longer for concurrent writers."""
    sync_min_commit_gap_s: float = Field(0.5, ge=0, le=10)
    """SYNC_MIN_COMMIT_GAP_S: least time between two syncer commits. DuckLake's optimistic commits
    are not fair: a writer committing every ~50 ms (tiny batches over a constant trickle) can make
    every retry of a slower commit lose (a dbt model's commit takes ~100 ms and lost 31 times in a
    row in CI), whatever the retry budget. The gap leaves other writers a window. It never applies
    at the default 30 s interval, and a 250k-row backfill batch takes about as long to stage;
    0 disables it."""
    sync_settle_timeout_s: float = Field(5.0, ge=0)
    """SYNC_SETTLE_TIMEOUT_S: how long a cycle waits for in-flight source transactions to finish
    before it copies only up to the last settled point."""


class MaintenanceSettings(BaseSettings):
    """Durations: seconds (`90`), `30s`, `15m`, `12h`, `7d`, ISO 8601 (`P7D`) or `HH:MM:SS`."""

    model_config = _BASE

    lake_snapshot_retention: Duration = timedelta(days=7)
    """LAKE_SNAPSHOT_RETENTION: snapshots older than this are expired (time travel ends there)."""
    lake_file_cleanup_delay: Duration = timedelta(hours=1)
    """LAKE_FILE_CLEANUP_DELAY: files scheduled for deletion (merged away, expired) are deleted
    once they have been scheduled this long, so queries that are still reading them can finish."""
    lake_orphan_min_age: Duration = timedelta(days=1)
    """LAKE_ORPHAN_MIN_AGE: untracked files younger than this are kept. Must exceed the longest
    write transaction: a running writer's Parquet files are untracked until it commits."""
