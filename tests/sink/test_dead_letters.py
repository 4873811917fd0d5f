"""Bad input goes to <topic>.dlq with its reason; the good messages of the same batch still land."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS, StreamName
from tests.sink.conftest import total_rows
from tests.support import messages
from tests.support.proc import ServiceProcess

pytestmark = pytest.mark.integration

SQL_TEXT = "Robert'); DROP TABLE raw_weather_data; --"


def _mutate(raw: bytes, change: Callable[[dict], None]) -> bytes:  # type: ignore[type-arg]
    doc = json.loads(raw)
    change(doc)
    return json.dumps(doc).encode()


def _set(path: str, value: object) -> Callable[[dict], None]:  # type: ignore[type-arg]
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        *parents, leaf = path.split(".")
        for part in parents:
            doc = doc[part]
        doc[leaf] = value

    return change


def poison_cases() -> list[tuple[StreamName, bytes | None, bytes | None, str]]:
    """(stream, key, value, expected error class) for every kind of bad input the sink must survive."""
    ck, cv = messages.crypto(900_001)
    gk, gv = messages.github(900_002)
    wk, wv = messages.weather(303)
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    return [
        (StreamName.CRYPTO, ck, b"{not json", "invalid_json"),
        (StreamName.CRYPTO, ck, b"[1, 2, 3]", "envelope"),
        (StreamName.CRYPTO, ck, _mutate(cv, _set("schema_version", 3)), "envelope"),
        (StreamName.CRYPTO, ck, _mutate(cv, lambda d: d["payload"].pop("price")), "schema"),
        (StreamName.CRYPTO, ck, _mutate(cv, _set("payload.price", "a lot")), "schema"),
        (StreamName.CRYPTO, ck, _mutate(cv, _set("payload.price", -5)), "schema"),
        (
            StreamName.CRYPTO,
            ck,
            _mutate(cv, _set("payload.coin_id", "x'; DROP TABLE raw_crypto_prices;--")),
            "schema",
        ),
        (StreamName.WEATHER, wk, _mutate(wv, _set("payload.humidity_pct", 101)), "schema"),
        (StreamName.WEATHER, wk, _mutate(wv, _set("observed_at", future)), "future_timestamp"),
        (StreamName.WEATHER, wk, _mutate(wv, _set("payload.condition", "rain\u0000")), "invalid_text"),
        (StreamName.GITHUB, gk, _mutate(gv, _set("payload.payload", {"blob": "x" * 8000})), "oversize"),
        (StreamName.GITHUB, b"not-the-key", gv, "key_mismatch"),
        (StreamName.GITHUB, gk, None, "empty"),
    ]


def test_poison_is_dead_lettered_with_reason_and_good_messages_land(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    ns = kafka_settings.topic_namespace
    good = messages.mixed(300)
    sql_text = messages.weather(301, city_name=SQL_TEXT)
    cases = poison_cases()
    # Interleave poison with good messages so they share batches.
    messages.produce(kafka_settings, good[:150])
    for name, key, value, _ in cases:
        messages.produce_raw(kafka_settings, STREAMS[name].topic(ns), key, value)
    messages.produce(kafka_settings, [*good[150:], (StreamName.WEATHER, *sql_text)])

    env = {**sink_env, "SINK_MAX_MESSAGE_BYTES": "4096"}
    with ServiceProcess(["sink"], env) as sink:
        wait_for_rows(301)
        wait_caught_up()
        assert total_rows(pg_settings) == 301
        assert sink.metric("datastack_sink_dead_lettered_total") == len(cases)
        assert sink.alive()

    expected: dict[str, list[str]] = {}
    for name, _, _, error_class in cases:
        expected.setdefault(STREAMS[name].topic(ns), []).append(error_class)
    produced = Counter(STREAMS[name].topic(ns) for name, *_ in [*good, *cases])
    produced[STREAMS[StreamName.WEATHER].topic(ns)] += 1  # the SQL-looking city name
    for topic, classes in expected.items():
        originals = {
            (msg.partition(), msg.offset()): msg
            for msg in messages.read_all(kafka_settings, topic, produced[topic])
        }
        assert len(originals) == produced[topic]
        letters = messages.read_all(kafka_settings, f"{topic}.dlq", len(classes))
        assert len(letters) == len(classes)
        seen = []
        for letter in letters:
            headers = {k: v.decode() for k, v in letter.headers()}
            assert headers["dlq.original.topic"] == topic
            # The letter points at its poison message and carries its exact key and bytes.
            original = originals[int(headers["dlq.original.partition"]), int(headers["dlq.original.offset"])]
            assert (letter.key(), letter.value()) == (original.key(), original.value())
            assert int(headers["dlq.original.timestamp"]) == original.timestamp()[1]
            failed_at = datetime.fromisoformat(headers["dlq.failed.at"])
            assert timedelta(0) <= datetime.now(UTC) - failed_at < timedelta(minutes=5)
            assert headers["dlq.error.reason"]
            seen.append(headers["dlq.error.class"])
        assert sorted(seen) == sorted(classes)

    with psycopg.connect(pg_settings.conninfo()) as conn:
        # SQL in free text is data: stored verbatim, never executed.
        stored = conn.execute(
            "SELECT city_name FROM raw_weather_data WHERE city_name = %s", (SQL_TEXT,)
        ).fetchall()
        assert stored == [(SQL_TEXT,)]
        assert conn.execute("SELECT to_regclass('raw_crypto_prices')").fetchone() == ("raw_crypto_prices",)
