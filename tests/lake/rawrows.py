"""Synthetic raw rows generated inside PostgreSQL (`INSERT ... SELECT generate_series`), fast enough
for a million rows: every NOT NULL column filled, a realistic ~250-byte jsonb payload, natural keys
`<prefix>:<n>` so tests can predict and checksum them."""

from __future__ import annotations

from typing import Final

import psycopg

from services.lake.tables import RAW_TABLES

# Each row n gets timestamp t = 2026-01-01 + n seconds.
_SERIES = (
    " FROM (SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' AS t"
    " FROM generate_series(%s::bigint, %s::bigint) AS g) AS s"
)
_INSERTS: Final[dict[str, str]] = {
    "raw_crypto_prices": """
        INSERT INTO raw_crypto_prices (natural_key, venue, coin_id, symbol, name, vs_currency, price,
            bid, ask, market_cap, volume_24h, high_24h, low_24h, change_pct_24h, source_updated_at,
            source, observed_at, produced_at, kafka_topic, kafka_partition, kafka_offset, payload)
        SELECT 'crypto:' || g, (ARRAY['coinbase','kraken','bitstamp','gemini','coingecko'])[g %% 5 + 1],
            'coin' || g %% 50, 'c' || g %% 50, 'Coin ' || g %% 50, 'usd',
            100 + g %% 997 * 0.5, 99.9 + g %% 997 * 0.5, 100.1 + g %% 997 * 0.5, 1e9 + g, 1e6 + g,
            101 + g %% 997 * 0.5, 99 + g %% 997 * 0.5,
            (g %% 200 - 100) / 10.0, t, 'synthetic', t, t, 'crypto_prices', g %% 3, g,
            jsonb_build_object('coin_id', 'coin' || g %% 50, 'symbol', 'c' || g %% 50,
                'price', 100 + g %% 997 * 0.5, 'market_cap', 1e9 + g, 'volume_24h', 1e6 + g,
                'source_updated_at', t, 'vs_currency', 'usd', 'note', repeat('x', 60))"""
    + _SERIES,
    "raw_github_events": """
        INSERT INTO raw_github_events (natural_key, event_id, event_type, actor_id, actor_login,
            repo_id, repo_name, org_login, action, public, created_at, source, observed_at,
            produced_at, kafka_topic, kafka_partition, kafka_offset, payload)
        SELECT 'github:' || g, g::text, (ARRAY['PushEvent','WatchEvent','IssuesEvent'])[g %% 3 + 1],
            g %% 50, 'dev' || g %% 50, g %% 20, 'org/repo' || g %% 20, NULL, NULL, true, t,
            'synthetic', t, t, 'github_events', g %% 3, g,
            jsonb_build_object('id', g::text, 'type', 'PushEvent', 'actor', jsonb_build_object(
                'id', g %% 50, 'login', 'dev' || g %% 50), 'repo', jsonb_build_object('id', g %% 20,
                'name', 'org/repo' || g %% 20), 'payload', jsonb_build_object('ref', 'refs/heads/main',
                'size', g %% 7, 'head', md5(g::text)))"""
    + _SERIES,
    "raw_weather_data": """
        INSERT INTO raw_weather_data (natural_key, city_id, city_name, country, latitude, longitude,
            temperature_c, apparent_temperature_c, humidity_pct, pressure_hpa, wind_speed_ms, rain_mm,
            weather_code, condition, source, observed_at, produced_at, kafka_topic, kafka_partition,
            kafka_offset, payload)
        SELECT 'weather:' || g, 'city-' || g %% 12, 'City ' || g %% 12, 'BR', -23.5 + g %% 12,
            -46.6 + g %% 12, 10 + g %% 25, 9 + g %% 25, 40 + g %% 60, 1000 + g %% 30, g %% 15, g %% 5 * 0.2,
            g %% 4, 'Clear', 'synthetic', t, t, 'weather_data', g %% 3, g,
            jsonb_build_object('city_id', 'city-' || g %% 12, 'temperature_c', 10 + g %% 25,
                'humidity_pct', 40 + g %% 60, 'pressure_hpa', 1000 + g %% 30, 'wind_speed_ms', g %% 15,
                'observed_at', t, 'condition', 'Clear', 'note', repeat('y', 40))"""
    + _SERIES,
}

PREFIX: Final = {"raw_crypto_prices": "crypto", "raw_github_events": "github", "raw_weather_data": "weather"}


def insert_rows(conn: psycopg.Connection[tuple[object, ...]], table: str, start: int, count: int) -> None:
    """Rows `start .. start+count-1` of `table` (natural keys `<prefix>:<n>`), in the caller's
    transaction."""
    if count > 0:
        conn.execute(_INSERTS[table].encode(), (start, start + count - 1))


def insert_all(conninfo: str, start: int, count: int, tables: tuple[str, ...] = RAW_TABLES) -> None:
    """The same row range in every table, committed."""
    with psycopg.connect(conninfo) as conn:
        for table in tables:
            insert_rows(conn, table, start, count)
