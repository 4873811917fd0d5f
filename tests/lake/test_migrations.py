"""Upgrading a running deployment to crypto_prices version 2 loses nothing, in PostgreSQL and the lake.

The deployment before the upgrade is reproduced for real: the raw tables at migration 001, rows in
the version-1 shape (CoinGecko's aggregate, '<coin>:<ts>' keys), and a lake the syncer already
filled from them. Then the sink's migrations run, new version-2 rows arrive, the syncer runs again.
"""

from __future__ import annotations

from contextlib import closing

import psycopg
import pytest

from services.config import PostgresSettings
from services.lake.settings import LakeSettings
from services.lake.syncer import Syncer
from services.sink.schema import migrate, migrations
from tests.lake.helpers import lake_rows, sync_settings

pytestmark = pytest.mark.integration

V1_ROWS = 40


def _at_migration_001(pg: PostgresSettings) -> None:
    """The raw schema as version 1 of the sink left it, with version-1 crypto rows."""
    (version, name, text) = migrations()[0]
    assert name == "001_raw_tables.sql"
    with psycopg.connect(pg.conninfo()) as conn:
        conn.execute(text.encode())
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        conn.execute(
            """INSERT INTO raw_crypto_prices (natural_key, coin_id, symbol, name, vs_currency, price,
                 source_updated_at, source, observed_at, produced_at, kafka_topic, kafka_partition,
                 kafka_offset, payload)
               SELECT 'bitcoin:' || extract(epoch FROM t)::bigint, 'bitcoin', 'btc', 'Bitcoin', 'usd',
                 90000 + g, t, 'coingecko', t, t, 'crypto_prices', 0, g,
                 jsonb_build_object('coin_id', 'bitcoin', 'price', 90000 + g)
               FROM (SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' AS t
                     FROM generate_series(1, %s) AS g) AS s""",
            (V1_ROWS,),
        )


def _insert_v2(pg: PostgresSettings, venue: str, first_offset: int) -> None:
    with psycopg.connect(pg.conninfo()) as conn:
        conn.execute(
            """INSERT INTO raw_crypto_prices (natural_key, venue, coin_id, symbol, name, vs_currency,
                 price, bid, ask, source_updated_at, source, observed_at, produced_at, kafka_topic,
                 kafka_partition, kafka_offset, payload)
               VALUES (%s || ':bitcoin:1767300000', %s, 'bitcoin', 'btc', 'Bitcoin', 'usd', 91000,
                 90999.5, 91000.5, '2026-01-01T20:40:00Z', %s, '2026-01-01T20:40:00Z',
                 '2026-01-01T20:40:01Z', 'crypto_prices', 0, %s, '{}')""",
            (venue, venue, venue, first_offset),
        )


def test_upgrade_rewrites_old_rows_in_postgres_and_the_lake(
    pg_settings: PostgresSettings, lake_settings: LakeSettings
) -> None:
    _at_migration_001(pg_settings)
    with closing(Syncer(lake_settings, pg_settings, sync_settings())) as old_syncer:
        old_syncer.run_cycle()
    assert lake_rows(lake_settings, pg_settings, "SELECT count(*) FROM raw_crypto_prices") == [(V1_ROWS,)]

    with psycopg.connect(pg_settings.conninfo()) as conn:
        assert migrate(conn) == [name for _v, name, _t in migrations()[1:]]
        assert migrate(conn) == []  # idempotent
        rows = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE venue = 'coingecko'"
            " AND natural_key = 'coingecko:bitcoin:' || extract(epoch FROM source_updated_at)::bigint),"
            " max(ingest_seq) FROM raw_crypto_prices"
        ).fetchone()
        assert rows == (V1_ROWS, V1_ROWS, V1_ROWS)  # every row kept and re-keyed; ingest_seq untouched
    _insert_v2(pg_settings, "kraken", 1000)

    with closing(Syncer(lake_settings, pg_settings, sync_settings())) as syncer:
        syncer.run_cycle()
    lake = lake_rows(
        lake_settings,
        pg_settings,
        "SELECT venue, count(*), count(*) FILTER (WHERE natural_key LIKE venue || ':bitcoin:%'),"
        " count(bid) FROM raw_crypto_prices GROUP BY venue ORDER BY venue",
    )
    assert lake == [("coingecko", V1_ROWS, V1_ROWS, 0), ("kraken", 1, 1, 1)]


def test_syncer_picks_up_columns_a_migration_adds_while_it_runs(
    pg_settings: PostgresSettings, lake_settings: LakeSettings
) -> None:
    """The sink migrates at its start-up, possibly while the syncer is running: the syncer must not
    keep copying with the old column list (the new columns' values would never reach the lake)."""
    _at_migration_001(pg_settings)
    with closing(Syncer(lake_settings, pg_settings, sync_settings())) as syncer:
        syncer.run_cycle()
        with psycopg.connect(pg_settings.conninfo()) as conn:
            migrate(conn)
        _insert_v2(pg_settings, "gemini", 2000)
        syncer.run_cycle()  # the same, still open syncer
    lake = lake_rows(
        lake_settings,
        pg_settings,
        "SELECT natural_key, venue, bid, ask FROM raw_crypto_prices WHERE venue = 'gemini'",
    )
    assert lake == [("gemini:bitcoin:1767300000", "gemini", 90999.5, 91000.5)]
    backfilled = lake_rows(
        lake_settings,
        pg_settings,
        "SELECT count(*) FROM raw_crypto_prices WHERE venue = 'coingecko' AND natural_key LIKE 'coingecko:%'",
    )
    assert backfilled == [(V1_ROWS,)]
