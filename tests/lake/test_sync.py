"""The syncer copies raw rows exactly once: N -> N, re-run -> still N, appended rows -> only those."""

from __future__ import annotations

import subprocess
import time

import psycopg

from services.config import PostgresSettings
from services.lake.connect import connect
from services.lake.settings import LakeSettings
from services.lake.tables import RAW_TABLES, STATE_TABLE
from tests.lake.helpers import MakeSyncer, lake_counts, lake_rows, source_counts
from tests.lake.rawrows import insert_all, insert_rows
from tests.support.proc import DATASTACK


def test_full_then_idempotent_then_incremental(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 500)
    first = make_syncer(sync_batch_rows=200)
    result = first.run_cycle()
    assert result.rows == dict.fromkeys(RAW_TABLES, 500)
    assert result.batches == 9  # 200 + 200 + 100 per table
    assert first.run_cycle().batches == 0  # nothing new: no empty snapshots either
    first.close()

    again = make_syncer(sync_batch_rows=200)  # a restarted process reads its watermark from the lake
    assert again.run_cycle().rows == dict.fromkeys(RAW_TABLES, 0)
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)

    insert_all(source_pg.conninfo(), 501, 250)
    assert again.run_cycle().rows == dict.fromkeys(RAW_TABLES, 250)
    assert again.watermarks == dict.fromkeys(RAW_TABLES, 750)
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)
    batches = lake_rows(
        lake_settings,
        source_pg,
        f"SELECT last_ingest_seq, batch_rows FROM {STATE_TABLE}"  # noqa: S608 - fixed name
        " WHERE table_name = 'raw_weather_data' ORDER BY last_ingest_seq",
    )
    assert batches == [(200, 200), (400, 200), (500, 100), (700, 200), (750, 50)]


def test_commits_leave_the_minimum_gap_for_other_writers(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 50)
    gap = 0.5
    syncer = make_syncer(sync_batch_rows=10, sync_min_commit_gap_s=gap)
    started = time.monotonic()
    result = syncer.run_cycle()
    elapsed = time.monotonic() - started
    assert result.batches == 5 * len(RAW_TABLES)  # five commits, each with a batch of every table
    assert elapsed >= 4 * gap  # without the gap: ~0.6 s
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)


def test_same_columns_and_payload_as_json(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 3)
    make_syncer().run_cycle()
    with psycopg.connect(source_pg.conninfo()) as conn:
        for table in RAW_TABLES:
            pg_columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                    " ORDER BY ordinal_position",
                    (table,),
                )
            ]
            lake_columns = lake_rows(
                lake_settings,
                source_pg,
                "SELECT column_name, data_type FROM duckdb_columns()"
                " WHERE database_name = 'lake' AND table_name = ? ORDER BY column_index",
                [table],
            )
            assert [c for c, _ in lake_columns] == pg_columns
            assert dict(lake_columns)["payload"] == "JSON"
            assert dict(lake_columns)["ingested_at"] == "TIMESTAMP WITH TIME ZONE"
        pg_row = conn.execute(
            "SELECT payload->>'coin_id', price, observed_at FROM raw_crypto_prices WHERE ingest_seq = 2"
        ).fetchone()
    lake_row = lake_rows(
        lake_settings,
        source_pg,
        "SELECT payload->>'coin_id', price, observed_at FROM raw_crypto_prices WHERE ingest_seq = 2",
    )
    assert lake_row == [pg_row]


def test_batches_count_rows_not_seq_ranges(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    """ON CONFLICT DO NOTHING burns identity values; batches must still be full."""
    with psycopg.connect(source_pg.conninfo()) as conn:
        insert_rows(conn, "raw_crypto_prices", 1, 100)
        conn.commit()
        for _ in range(3):  # 300 seq values burned by duplicates
            conn.execute(
                "INSERT INTO raw_crypto_prices (natural_key, venue, coin_id, symbol, name, vs_currency,"
                " price, source_updated_at, source, observed_at, produced_at, kafka_topic,"
                " kafka_partition, kafka_offset, payload) SELECT natural_key, venue, coin_id, symbol,"
                " name, vs_currency, price, source_updated_at, source, observed_at, produced_at,"
                " kafka_topic, kafka_partition, kafka_offset, payload FROM raw_crypto_prices"
                " ON CONFLICT (natural_key) DO NOTHING"
            )
        insert_rows(conn, "raw_crypto_prices", 101, 100)
        conn.commit()
    make_syncer(sync_batch_rows=150).run_cycle()
    sizes = lake_rows(
        lake_settings,
        source_pg,
        f"SELECT batch_rows FROM {STATE_TABLE} ORDER BY last_ingest_seq",  # noqa: S608 - fixed name
    )
    assert [r[0] for r in sizes] == [150, 50]
    assert lake_counts(lake_settings, source_pg, "raw_crypto_prices")[0] == 200


def test_new_source_column_is_added_to_the_lake(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 10, tables=("raw_github_events",))
    first = make_syncer()
    first.run_cycle()
    first.close()
    with psycopg.connect(source_pg.conninfo()) as conn:
        conn.execute("ALTER TABLE raw_github_events ADD COLUMN ref text")
        conn.execute("ALTER TABLE raw_github_events ADD COLUMN details jsonb")
        insert_rows(conn, "raw_github_events", 11, 5)
        conn.execute(
            "UPDATE raw_github_events SET ref = 'main', details = '{\"a\": 1}' WHERE ingest_seq > 10"
        )
    make_syncer().run_cycle()
    rows = lake_rows(
        lake_settings,
        source_pg,
        "SELECT count(ref), count(*), any_value(typeof(details)) FROM raw_github_events",
    )
    assert rows == [(5, 15, "JSON")]


def test_cli_once_copies_everything_and_exits_zero(
    lake_env: dict[str, str], source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 1000)
    for _ in range(2):
        done = subprocess.run(
            [DATASTACK, "sync", "--once"], env=lake_env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)


def test_backfill_batches_read_in_parallel_small_batches_by_key(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 2000, tables=("raw_crypto_prices",))
    with psycopg.connect(source_pg.conninfo(), autocommit=True) as conn:
        conn.execute("ANALYZE raw_crypto_prices")
    syncer = make_syncer(sync_batch_rows=1000)
    syncer.open()
    # A batch spanning a large share of the table is read with the parallel ctid scan; a small one
    # by primary-key range (a ctid scan would read the whole heap for it).
    assert syncer._parallel_scans({"raw_crypto_prices": (0, 1000)}) == {"raw_crypto_prices": True}
    assert syncer._parallel_scans({"raw_crypto_prices": (1990, 2000)}) == {"raw_crypto_prices": False}
    assert syncer.run_cycle().rows["raw_crypto_prices"] == 2000
    assert lake_counts(lake_settings, source_pg, "raw_crypto_prices") == source_counts(
        source_pg, "raw_crypto_prices"
    )


def test_rows_already_in_the_lake_without_sync_state_are_not_copied_again(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 20)
    con = connect(lake_settings, source_pg, attach_source=True)
    try:  # as another tool (a hand-made copy, an older loader) would have filled it
        con.execute(
            "CREATE TABLE lake.main.raw_weather_data AS SELECT * REPLACE (CAST(payload AS JSON) AS payload)"
            " FROM source.public.raw_weather_data WHERE ingest_seq <= 15"
        )
    finally:
        con.close()
    assert make_syncer().run_cycle().rows == {
        "raw_crypto_prices": 20,
        "raw_github_events": 20,
        "raw_weather_data": 5,
    }
    for table in RAW_TABLES:
        assert lake_counts(lake_settings, source_pg, table) == source_counts(source_pg, table)
