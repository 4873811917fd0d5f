"""A stand-in for dbt in the concurrency test: a separate process with its own DuckDB that keeps
rebuilding a model table and appending to another in the same lake until `stop_file` exists.

    python -m tests.lake.model_writer <stop_file>     (lake settings from the environment)

Keeps the number of commits so far in `<stop_file>.progress`, and at the end prints one JSON line:
{"commits": n, "failures": n, "errors": [...]}. A failure is a statement DuckLake gave up on
(a conflict, or retries exhausted).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import duckdb

from services.config import PostgresSettings, load
from services.lake.connect import connect
from services.lake.settings import LakeSettings

SETUP = (
    "CREATE SCHEMA IF NOT EXISTS lake.analytics",
    "CREATE TABLE IF NOT EXISTS lake.analytics.refresh_log (n BIGINT, refreshed_at TIMESTAMPTZ)",
)
# One refresh = one transaction, as dbt materialises a model.
REFRESH = (
    "BEGIN TRANSACTION",
    "CREATE OR REPLACE TABLE lake.analytics.raw_counts AS"
    " SELECT 'crypto' AS stream, count(*) AS n, max(ingest_seq) AS max_seq FROM lake.main.raw_crypto_prices"
    " UNION ALL SELECT 'github', count(*), max(ingest_seq) FROM lake.main.raw_github_events"
    " UNION ALL SELECT 'weather', count(*), max(ingest_seq) FROM lake.main.raw_weather_data",
    "INSERT INTO lake.analytics.refresh_log SELECT sum(n), now() FROM lake.analytics.raw_counts",
    "COMMIT",
)


def main(stop_file: Path) -> int:
    con = connect(load(LakeSettings), load(PostgresSettings))
    progress = stop_file.with_name(stop_file.name + ".progress")
    commits, errors = 0, []
    try:
        for statement in SETUP:
            con.execute(statement)
        while not stop_file.exists():
            try:
                for statement in REFRESH:
                    con.execute(statement)
                commits += 1
            except duckdb.Error as exc:
                errors.append(str(exc)[:500])
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT already ended it
                    con.execute("ROLLBACK")
            progress.write_text(str(commits))
    finally:
        con.close()
    print(json.dumps({"commits": commits, "failures": len(errors), "errors": errors[:5]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
