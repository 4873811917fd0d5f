"""Synthetic raw rows that respect the data contract (services/contract), for the dbt tests.

`generate(end)` returns rows for the three raw tables covering ~50 hours before `end`: several coins
priced every 10 minutes by CoinGecko's aggregate and, a few seconds later in the same minute, by
four exchanges with small spreads around it (Kraken misses every seventh round, as a failing venue
would), GitHub events of several types from actors who join over time, and weather for several
cities every 30 minutes. Values are deterministic for a given `end` and seed, and every
row is valid against the payload models, so the same rows could have come through the sink.
`insert(conn, rows)` writes them to the PostgreSQL raw tables (migrations applied).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from services.contract.payloads import CryptoPrice, GithubEvent, WeatherObservation
from services.contract.streams import key_timestamp

Row = dict[str, Any]
RawRows = dict[str, list[Row]]

COINS = (
    ("bitcoin", "btc", "Bitcoin", 65_000.0, 19_700_000),
    ("ethereum", "eth", "Ethereum", 3_200.0, 120_000_000),
    ("solana", "sol", "Solana", 150.0, 460_000_000),
)
CITIES = (
    ("berlin", "Berlin", "DE", 52.52, 13.405, 8.0),
    ("sao-paulo", "São Paulo", "BR", -23.55, -46.633, 24.0),
    ("tokyo", "Tokyo", "JP", 35.68, 139.69, 15.0),
    ("reykjavik", "Reykjavík", "IS", 64.15, -21.94, -2.0),
)
CONDITIONS = ("Clear", "Clouds", "Rain", "Mist")
EVENT_TYPES = (
    ("PushEvent", 45),
    ("PullRequestEvent", 15),
    ("IssuesEvent", 10),
    ("IssueCommentEvent", 12),
    ("WatchEvent", 10),
    ("ForkEvent", 4),
    ("CreateEvent", 4),
)
ACTORS = tuple(
    (1000 + i, login)
    for i, login in enumerate(("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi-bot"))
)
REPOS = (
    (501, "acme/rocket"),
    (502, "acme/widgets"),
    (503, "octo/hello-world"),
    (504, "datastack/dbt-models"),
    (505, "solo/dotfiles"),
)
EXCHANGES = (
    # (venue, seconds after CoinGecko's price, premium in basis points, half spread in basis points)
    ("coinbase", 3, 1.5, 0.5),
    ("kraken", 7, -2.0, 1.0),
    ("bitstamp", 11, 3.0, 2.0),
    ("gemini", 15, -1.0, 1.5),
)
KRAKEN_GAP_EVERY = 7
HOURS = 50


def _common(source: str, topic: str, offset: int, observed_at: datetime, rng: random.Random) -> Row:
    produced_at = observed_at + timedelta(seconds=rng.randint(1, 20))
    return {
        "source": source,
        "observed_at": observed_at,
        "produced_at": produced_at,
        "ingested_at": produced_at + timedelta(seconds=rng.randint(1, 40), milliseconds=rng.randint(0, 999)),
        "kafka_topic": topic,
        "kafka_partition": 0,
        "kafka_offset": offset,
    }


def crypto_row(
    coin: tuple[str, str, str, float, int], price: float, at: datetime, offset: int, rng: random.Random
) -> Row:
    """CoinGecko's aggregate price of a coin at `at`."""
    coin_id, symbol, name, _, supply = coin
    model = CryptoPrice(
        venue="coingecko",
        coin_id=coin_id,
        symbol=symbol,
        name=name,
        vs_currency="usd",
        price=round(price, 6),
        market_cap=round(price * supply, 2),
        volume_24h=round(price * supply * 0.03, 2),
        high_24h=round(price * 1.02, 6),
        low_24h=round(price * 0.98, 6),
        change_pct_24h=round(rng.uniform(-5, 5), 4),
        source_updated_at=at,
    )
    return _crypto_raw(model, "coingecko", offset, rng)


def exchange_row(
    coin: tuple[str, str, str, float, int],
    venue: tuple[str, int, float, float],
    market_price: float,
    at: datetime,
    offset: int,
    rng: random.Random,
) -> Row:
    """An exchange's ticker for a coin, `venue[1]` seconds after `at`: the market price moved by the
    venue's premium and some noise, the last trade on one side of a small bid/ask spread."""
    coin_id, symbol, name, _, supply = coin
    name_of_venue, delay_s, premium_bps, half_spread_bps = venue
    mid = market_price * (1 + (premium_bps + rng.gauss(0, 0.5)) / 1e4)
    bid = round(mid * (1 - half_spread_bps / 1e4), 6)
    ask = round(mid * (1 + half_spread_bps / 1e4), 6)
    model = CryptoPrice(
        venue=name_of_venue,
        coin_id=coin_id,
        symbol=symbol,
        name=name,
        vs_currency="usd",
        price=bid if rng.random() < 0.5 else ask,
        bid=bid,
        ask=ask,
        base_volume_24h=round(supply * rng.uniform(0.0005, 0.002), 4),
        source_updated_at=at + timedelta(seconds=delay_s, milliseconds=rng.randint(0, 999)),
    )
    return _crypto_raw(model, name_of_venue, offset, rng)


def _crypto_raw(model: CryptoPrice, source: str, offset: int, rng: random.Random) -> Row:
    at = model.source_updated_at
    return {
        "natural_key": f"{model.venue}:{model.coin_id}:{int(at.timestamp())}",
        **model.model_dump(),
        "payload": model.model_dump(mode="json"),
        **_common(source, "crypto.prices", offset, at, rng),
    }


def github_row(
    event_id: int,
    event_type: str,
    actor: tuple[int, str],
    repo: tuple[int, str],
    at: datetime,
    offset: int,
    rng: random.Random,
) -> Row:
    inner: dict[str, Any] = {}
    action = None
    if event_type == "PushEvent":
        inner = {"ref": "refs/heads/main", "size": rng.randint(1, 5)}
    elif event_type in ("PullRequestEvent", "IssuesEvent"):
        action = rng.choice(("opened", "closed"))
        inner = {"action": action}
    elif event_type == "CreateEvent":
        inner = {"ref": f"feature-{event_id % 97}", "ref_type": "branch"}
    model = GithubEvent(
        event_id=str(event_id),
        event_type=event_type,
        actor_id=actor[0],
        actor_login=actor[1],
        repo_id=repo[0],
        repo_name=repo[1],
        org_login=repo[1].split("/")[0],
        action=action,
        public=True,
        created_at=at,
        payload=inner,
    )
    fields = model.model_dump()
    fields.pop("payload")
    return {
        "natural_key": str(event_id),
        **fields,
        "payload": model.model_dump(mode="json"),
        **_common("github", "github.events", offset, at, rng),
    }


def weather_row(
    city: tuple[str, str, str, float, float, float],
    temperature: float,
    humidity: float,
    at: datetime,
    offset: int,
    rng: random.Random,
) -> Row:
    city_id, city_name, country, lat, lon, _ = city
    condition = rng.choice(CONDITIONS)
    model = WeatherObservation(
        city_id=city_id,
        city_name=city_name,
        country=country,
        latitude=lat,
        longitude=lon,
        observed_at=at,
        temperature_c=round(temperature, 1),
        apparent_temperature_c=round(temperature - rng.uniform(0, 3), 1),
        humidity_pct=round(humidity, 1),
        pressure_hpa=round(rng.uniform(990, 1030), 1),
        wind_speed_ms=round(rng.uniform(0, 12), 1),
        rain_mm=round(rng.uniform(0, 4), 1) if condition == "Rain" else 0.0,
        weather_code={"Clear": 800, "Clouds": 803, "Rain": 500, "Mist": 701}[condition],
        condition=condition,
    )
    return {
        "natural_key": f"{city_id}:{key_timestamp(at)}",
        **model.model_dump(),
        "payload": model.model_dump(mode="json"),
        **_common("openweather", "weather.data", offset, at, rng),
    }


def generate(end: datetime, seed: int = 7) -> RawRows:
    """Rows for the ~50 hours before `end` (exclusive), aligned to whole 10-minute marks."""
    rng = random.Random(seed)
    end = end.astimezone(UTC).replace(minute=end.minute - end.minute % 10, second=0, microsecond=0)
    start = end - timedelta(hours=HOURS)

    crypto: list[Row] = []
    for coin in COINS:
        price = coin[3]
        at = start
        round_number = 0
        while at < end:
            price *= math.exp(rng.gauss(0.0, 0.003))
            crypto.append(crypto_row(coin, price, at, len(crypto), rng))
            for venue in EXCHANGES:
                if venue[0] == "kraken" and round_number % KRAKEN_GAP_EVERY == KRAKEN_GAP_EVERY - 1:
                    continue
                crypto.append(exchange_row(coin, venue, price, at, len(crypto), rng))
            at += timedelta(minutes=10)
            round_number += 1

    github: list[Row] = []
    total_minutes = HOURS * 60
    for i in range(420):
        minute = rng.randrange(total_minutes)
        # Actors join over time: actor k is only active after k * 6 hours, so days have new actors.
        eligible = [a for k, a in enumerate(ACTORS) if minute >= k * 6 * 60] or [ACTORS[0]]
        actor = rng.choice(eligible)
        event_type = rng.choices([t for t, _ in EVENT_TYPES], weights=[w for _, w in EVENT_TYPES])[0]
        at = start + timedelta(minutes=minute, seconds=rng.randrange(60))
        github.append(github_row(40_000_000_000 + i, event_type, actor, rng.choice(REPOS), at, i, rng))
    github.sort(key=lambda r: r["ingested_at"])

    weather: list[Row] = []
    for city in CITIES:
        at = start
        while at < end:
            hour = at.hour + at.minute / 60
            temperature = city[5] + 6 * math.sin((hour - 9) / 24 * 2 * math.pi) + rng.uniform(-1, 1)
            humidity = min(100.0, max(5.0, 70 - 2 * (temperature - city[5]) + rng.uniform(-8, 8)))
            weather.append(weather_row(city, temperature, humidity, at, len(weather), rng))
            at += timedelta(minutes=30)

    return {"raw_crypto_prices": crypto, "raw_github_events": github, "raw_weather_data": weather}


def insert(conn: psycopg.Connection[Any], rows: RawRows) -> None:
    """Insert rows into the raw tables, in ingested_at order (so ingest_seq follows landing order)."""
    for table, table_rows in rows.items():
        if not table_rows:
            continue
        ordered = sorted(table_rows, key=lambda r: r.get("ingested_at") or datetime.max.replace(tzinfo=UTC))
        insert_rows(conn, table, ordered)


def insert_rows(conn: psycopg.Connection[Any], table: str, rows: Iterable[Row]) -> None:
    """Insert rows into one raw table; a row without `ingested_at` gets the column default (now())."""
    by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(row), []).append(
            [Jsonb(v) if k == "payload" else v for k, v in row.items()]
        )
    with conn.cursor() as cur:
        for columns, params in by_columns.items():
            statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            )
            cur.executemany(statement, params)
