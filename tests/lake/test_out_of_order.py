"""Identity values commit out of order: the syncer must not move its watermark past a row that an
open transaction may still commit."""

from __future__ import annotations

import psycopg

from services.config import PostgresSettings
from services.lake.settings import LakeSettings
from tests.lake.helpers import MakeSyncer, lake_rows
from tests.lake.rawrows import insert_all, insert_rows

TABLE = "raw_crypto_prices"


def _lake_keys(lake: LakeSettings, pg: PostgresSettings) -> list[str]:
    query = f"SELECT natural_key FROM {TABLE} ORDER BY ingest_seq"  # noqa: S608 - fixed name
    return [r[0] for r in lake_rows(lake, pg, query)]


def _visible_seqs(pg: PostgresSettings) -> list[int]:
    with psycopg.connect(pg.conninfo()) as conn:
        return [r[0] for r in conn.execute(f"SELECT ingest_seq FROM {TABLE} ORDER BY 1")]  # noqa: S608


def test_later_seq_committed_first_is_held_back_until_the_earlier_commits(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 3, tables=(TABLE,))  # seqs 1..3
    syncer = make_syncer(sync_settle_timeout_s=0.3)
    assert syncer.run_cycle().watermarks[TABLE] == 3
    slow = psycopg.connect(source_pg.conninfo())
    fast = psycopg.connect(source_pg.conninfo())
    try:
        insert_rows(slow, TABLE, 4, 1)  # takes seq 4, stays open
        insert_rows(fast, TABLE, 5, 1)  # takes seq 5 ...
        fast.commit()  # ... and commits first
        assert _visible_seqs(source_pg) == [1, 2, 3, 5]  # a plain `> watermark` would skip 4

        result = syncer.run_cycle()
        assert result.watermarks[TABLE] == 3  # 5 is held back while seq 4 may still commit
        assert result.lag[TABLE] == 2

        slow.commit()
        insert_rows(slow, TABLE, 6, 1)  # a new open writer (seq 6) ...
        insert_rows(fast, TABLE, 7, 1)  # ... and another out-of-order commit (seq 7)
        fast.commit()
        # The previous cycle's fence (<= 5) has settled; the newest (<= 7) waits for seq 6.
        assert syncer.run_cycle().watermarks[TABLE] == 5
        assert _lake_keys(lake_settings, source_pg) == [f"crypto:{i}" for i in range(1, 6)]

        slow.commit()
        assert syncer.run_cycle().watermarks[TABLE] == 7
        assert _lake_keys(lake_settings, source_pg) == [f"crypto:{i}" for i in range(1, 8)]
    finally:
        slow.close()
        fast.close()


def test_rolled_back_seq_does_not_block_progress(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 2, tables=(TABLE,))  # seqs 1..2
    with psycopg.connect(source_pg.conninfo()) as aborted, psycopg.connect(source_pg.conninfo()) as ok:
        insert_rows(aborted, TABLE, 3, 1)  # seq 3
        insert_rows(ok, TABLE, 4, 1)  # seq 4
        ok.commit()
        aborted.rollback()  # seq 3 is a permanent gap
    result = make_syncer().run_cycle()
    assert result.watermarks[TABLE] == 4
    assert _lake_keys(lake_settings, source_pg) == ["crypto:1", "crypto:2", "crypto:4"]


def test_writer_on_another_table_does_not_hold_this_one(
    make_syncer: MakeSyncer, source_pg: PostgresSettings, lake_settings: LakeSettings
) -> None:
    insert_all(source_pg.conninfo(), 1, 5)
    syncer = make_syncer(sync_settle_timeout_s=0.2)
    with psycopg.connect(source_pg.conninfo()) as other:
        insert_rows(other, "raw_weather_data", 6, 1)  # open on raw_weather_data only
        result = syncer.run_cycle()
        other.rollback()
    # No older fence to fall back on for weather: nothing is copied there until the writer ends.
    assert result.watermarks == {"raw_crypto_prices": 5, "raw_github_events": 5, "raw_weather_data": 0}
    assert syncer.run_cycle().watermarks["raw_weather_data"] == 5
