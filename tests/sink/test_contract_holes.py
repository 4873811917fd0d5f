"""The contract holes found by a user, closed end to end: the real sink, Kafka and PostgreSQL.

Each case starts from a real envelope of the project's own producers and changes one field: before
the fix the sink stored these messages (a number sent as text, a payload timestamp days ahead, a
free-form number silently turned into null). Crypto version-1 messages, from before venues, are
still accepted and stored under the version-2 natural key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS, StreamName
from services.contract.envelope import decode, encode
from tests.core.test_contract import _v1_crypto
from tests.support import messages
from tests.support.proc import ServiceProcess

pytestmark = pytest.mark.integration


def _changed(name: StreamName, i: int, change: Callable[[dict], None]) -> tuple[bytes, bytes]:  # type: ignore[type-arg]
    key, value = messages.FACTORIES[name](i)
    doc = json.loads(value)
    change(doc)
    return key, json.dumps(doc).encode()


def _ahead(name: StreamName, i: int) -> tuple[bytes, bytes]:
    """The user's case: the payload timestamp (and so the key) two days ahead, while the envelope's
    observed_at stayed in the past, the only timestamp the sink used to check."""
    stream = STREAMS[name]
    env = decode(stream, messages.FACTORIES[name](i)[1])
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    payload = env.payload.model_copy(update=dict.fromkeys(stream.timestamp_fields, later))
    moved = env.model_copy(update={"payload": payload, "key": stream.key_of(payload)})
    return moved.key.encode(), encode(moved)


def _github_payload(i: int, raw: str) -> tuple[bytes, bytes]:
    key, value = messages.github(i)
    doc = json.loads(value)
    doc["payload"]["payload"] = "__RAW__"
    return key, json.dumps(doc).replace('"__RAW__"', raw).encode()


EXACT = {
    800_001: '{"x": 1e400, "tiny": -2.5e-400}',
    800_002: '{"digits": 0.1234567890123456789012345, "list": [1.5, 2e+20]}',
    800_003: '{"big": 123456789012345678901234567890, "neg": -98765432109876543210987}',
}


def test_holes_are_closed_through_the_real_sink(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    ns = kafka_settings.topic_namespace
    poison = [
        (StreamName.CRYPTO, *_changed(StreamName.CRYPTO, 1, lambda d: d["payload"].update(price="103663.5"))),
        (
            StreamName.WEATHER,
            *_changed(StreamName.WEATHER, 2, lambda d: d["payload"].update(humidity_pct="60")),
        ),
        (StreamName.GITHUB, *_changed(StreamName.GITHUB, 3, lambda d: d["payload"].update(repo_id="7"))),
        (StreamName.CRYPTO, *_ahead(StreamName.CRYPTO, 4)),
        (StreamName.GITHUB, *_ahead(StreamName.GITHUB, 5)),
        (StreamName.WEATHER, *_ahead(StreamName.WEATHER, 6)),
        (StreamName.GITHUB, *_github_payload(7, '{"x": NaN}')),
        (StreamName.GITHUB, *_github_payload(8, '{"x": [1, -Infinity]}')),
    ]
    good = messages.mixed(60, start=100)
    exact = [(StreamName.GITHUB, *_github_payload(i, raw)) for i, raw in EXACT.items()]
    v1_key, v1_value = _v1_crypto(seconds=77)
    messages.produce(kafka_settings, good[:30])
    for name, key, value in [*poison, *exact, (StreamName.CRYPTO, v1_key, v1_value)]:
        messages.produce_raw(kafka_settings, STREAMS[name].topic(ns), key, value)
    messages.produce(kafka_settings, good[30:])

    with ServiceProcess(["sink"], sink_env) as sink:
        wait_for_rows(60 + len(exact) + 1)
        wait_caught_up()
        assert sink.metric("datastack_sink_dead_lettered_total") == len(poison)

    letters = []
    for name in StreamName:
        topic = STREAMS[name].topic(ns)
        expected = sum(1 for n, *_ in poison if n is name)
        for letter in messages.read_all(kafka_settings, f"{topic}.dlq", expected):
            headers = {k: v.decode() for k, v in letter.headers()}
            letters.append((letter.key(), headers["dlq.error.class"], headers["dlq.error.reason"]))
    assert sorted((key, cls) for key, cls, _ in letters) == sorted(
        [
            (poison[0][1], "schema"),
            (poison[1][1], "schema"),
            (poison[2][1], "schema"),
            (poison[3][1], "future_timestamp"),
            (poison[4][1], "future_timestamp"),
            (poison[5][1], "future_timestamp"),
            (poison[6][1], "schema"),
            (poison[7][1], "schema"),
        ]
    )
    reasons = {key: reason for key, _cls, reason in letters}
    assert "price" in reasons[poison[0][1]]
    assert "payload.source_updated_at" in reasons[poison[3][1]]
    assert "not a JSON number" in reasons[poison[6][1]]

    with psycopg.connect(pg_settings.conninfo()) as conn:
        for i, raw in EXACT.items():
            row = conn.execute(
                "SELECT (payload->'payload')::text FROM raw_github_events WHERE natural_key = %s",
                (str(10_000_000 + i),),
            ).fetchone()
            assert row is not None
            # Decimal comparison is numeric: 1E+400 equals the 401 digits PostgreSQL prints.
            stored = json.loads(row[0], parse_float=Decimal)
            assert stored == json.loads(raw, parse_float=Decimal), raw
        upgraded = conn.execute(
            "SELECT natural_key, venue, payload ? 'venue' FROM raw_crypto_prices WHERE coin_id = 'ethereum'"
        ).fetchall()
        assert upgraded == [(f"coingecko:{v1_key.decode()}", "coingecko", False)]
