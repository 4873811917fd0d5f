"""`datastack produce` as a real subprocess: config errors, replay into the real local Kafka, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable

import pytest

from services.config import KafkaSettings
from services.contract import STREAMS, StreamName
from services.producers.cities import DEFAULT_CITIES
from services.producers.settings import DEFAULT_COINS
from services.producers.venues import DEFAULT_VENUES, listing
from tests.conftest import service_env
from tests.producers.conftest import (
    DATASTACK,
    FakeApi,
    ProducerProcess,
    Reply,
    assert_topic,
    topic_envelopes,
    topic_size,
    wait_until,
)

Spawn = Callable[[list[str], dict[str, str]], ProducerProcess]


@pytest.mark.parametrize(
    ("var", "value", "producer"),
    [
        ("CRYPTO_COINS", "BTC!", "crypto"),
        ("CRYPTO_VENUES", "kraken,binance", "crypto"),
        ("POLL_INTERVAL_S", "-1", "github"),
        ("WEATHER_CITIES", "zurich,atlantis", "weather"),
    ],
)
def test_bad_setting_exits_2_naming_the_variable(var: str, value: str, producer: str) -> None:
    env = {**service_env(), var: value}
    # No Kafka needed: settings are checked before anything connects.
    done = subprocess.run(
        [DATASTACK, "produce", producer], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert var in done.stderr
    assert value.split(",")[-1] in done.stderr  # the offending value is shown (it is not a secret)
    assert "Traceback" not in done.stderr


CRYPTO_PER_ROUND = {v: len(listing(v, DEFAULT_COINS.split(","))[0].coins) for v in DEFAULT_VENUES}
"""Prices per poll of each venue with the default coins (10, 7, 9, 8, 5)."""
REPLAY_COUNTS: list[tuple[StreamName, int, str | set[str]]] = [
    (StreamName.CRYPTO, 100, set(DEFAULT_VENUES)),  # about 2.5 recorded rounds of the five venues
    (StreamName.GITHUB, 70, "github"),
    (StreamName.WEATHER, 20, "open-meteo"),  # needs the second (15 min later) recorded poll
]


@pytest.mark.integration
@pytest.mark.parametrize(("stream", "count", "source"), REPLAY_COUNTS, ids=[s for s, _, _ in REPLAY_COUNTS])
def test_replay_count_produces_exactly_n_valid_messages(
    kafka_settings: KafkaSettings, stream: StreamName, count: int, source: str | set[str]
) -> None:
    done = subprocess.run(
        [DATASTACK, "produce", stream.value, "--source", "replay", "--count", str(count)],
        env=service_env(kafka_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_topic(kafka_settings, stream, count, source)


@pytest.mark.integration
def test_crypto_replay_puts_five_sources_on_the_topic(kafka_settings: KafkaSettings) -> None:
    """One process, every venue: `--once` polls each venue's recording once; every message passes
    the sink's strict decode, and its envelope source is the venue it was observed at."""
    done = subprocess.run(
        [DATASTACK, "produce", "crypto", "--source", "replay", "--once"],
        env=service_env(kafka_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    envelopes = topic_envelopes(
        kafka_settings, StreamName.CRYPTO, sum(CRYPTO_PER_ROUND.values()), set(DEFAULT_VENUES)
    )
    assert Counter(e.source for e in envelopes) == CRYPTO_PER_ROUND
    for env in envelopes:
        assert env.payload.venue == env.source
        assert (
            env.key == f"{env.source}:{env.payload.coin_id}:{int(env.payload.source_updated_at.timestamp())}"
        )
        assert (env.payload.bid is None) == (env.source == "coingecko")
    skipped = [json.loads(line) for line in done.stderr.splitlines() if "skipped for it" in line]
    assert {e["venue"] for e in skipped} == {"coinbase", "kraken", "bitstamp", "gemini"}  # once each
    assert len(skipped) == 4


@pytest.mark.integration
def test_weather_replay_once_sends_one_message_per_city(kafka_settings: KafkaSettings) -> None:
    done = subprocess.run(
        [DATASTACK, "produce", "weather", "--source", "replay", "--once"],
        env=service_env(kafka_settings, PRODUCER_SOURCE="live"),  # the flag wins over the environment
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cities = DEFAULT_CITIES.split(",")
    keys = assert_topic(kafka_settings, StreamName.WEATHER, len(cities), "open-meteo")
    assert sorted(k.split(":")[0] for k in keys) == sorted(cities)


@pytest.mark.integration
def test_synthetic_count_from_the_environment(kafka_settings: KafkaSettings) -> None:
    env = service_env(kafka_settings, PRODUCER_SOURCE="synthetic", SYNTHETIC_SEED="3")
    done = subprocess.run(
        [DATASTACK, "produce", "github", "--count", "5000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert_topic(kafka_settings, StreamName.GITHUB, 5000, "synthetic")


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_a_long_interval_exits_0_promptly(
    kafka_settings: KafkaSettings, spawn: Spawn, sig: signal.Signals
) -> None:
    proc = spawn(["crypto", "--source", "replay", "--interval", "3600"], service_env(kafka_settings))
    proc.wait_for_log("poll done")
    topic = STREAMS[StreamName.CRYPTO].topic(kafka_settings.topic_namespace)
    first_round = sum(CRYPTO_PER_ROUND.values())
    wait_until(lambda: topic_size(kafka_settings, topic) == first_round, what="first polls delivered")
    sent_at = time.monotonic()
    proc.proc.send_signal(sig)
    assert proc.wait(timeout_s=15) == 0, proc.stderr[-3000:]
    assert time.monotonic() - sent_at < 10
    stopped = [e for e in proc.logs() if e.get("message") == "producer stopped"]
    assert stopped
    assert stopped[0]["stop_reason"] == sig.name
    assert stopped[0]["delivered"] == first_round


@pytest.mark.integration
def test_sigterm_interrupts_a_retry_after_sleep_and_never_logs_the_key(
    kafka_settings: KafkaSettings, fake_api: FakeApi, spawn: Spawn
) -> None:
    fake_api.route("/api/v3/coins/markets", Reply(503, {"error": "maintenance"}, {"Retry-After": "600"}))
    env = service_env(
        kafka_settings,
        CRYPTO_VENUES="coingecko",
        COINGECKO_BASE_URL=fake_api.url,
        COINGECKO_API_KEY="cg-demo-sekrit",
        LOG_LEVEL="DEBUG",
    )
    proc = spawn(["crypto", "--source", "live"], env)
    retry = proc.wait_for_log("api request failed, retrying")
    assert retry["sleep_s"] == 600.0  # Retry-After honoured (below RETRY_AFTER_MAX_S)
    assert fake_api.requests_to("/api/v3/coins/markets")[0].headers["x-cg-demo-api-key"] == "cg-demo-sekrit"
    sent_at = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout_s=15) == 0, proc.stderr[-3000:]
    assert time.monotonic() - sent_at < 10
    assert len(fake_api.requests_to("/api/v3/coins/markets")) == 1
    assert "cg-demo-sekrit" not in proc.stderr
