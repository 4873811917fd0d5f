"""Live mode against a local HTTP server playing the recorded responses plus injected failures,
producing into the real local Kafka. Producers run in-process on a private metrics registry."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.config import KafkaSettings
from services.contract import StreamName
from services.producers.cities import CATALOGUE
from services.producers.cli import run_producer
from services.producers.replay import load_fixtures, openweathermap_fixture
from services.runtime import StopFlag
from tests.producers.conftest import FakeApi, Reply, assert_topic, read_topic
from tests.producers.conftest import metric_value as _value

pytestmark = pytest.mark.integration

MARKETS = "/api/v3/coins/markets"


def test_crypto_survives_429_500_timeout_and_garbage(env: KafkaSettings, fake_api: FakeApi) -> None:
    good = load_fixtures("coingecko")[0]
    bad = {**good[0], "id": "broken-coin", "current_price": -5}
    fake_api.route(
        MARKETS,
        # poll 1: three failing attempts, then it gives up until the next poll
        Reply(429, {"status": {"error_code": 429, "error_message": "Throttled"}}, {"Retry-After": "1"}),
        Reply(500, "Internal Server Error"),
        Reply(200, good, delay_s=1.0),  # slower than HTTP_TIMEOUT_S
        # poll 2: a garbage body with a 200
        Reply(200, b"<html><body>Cloudflare says hi</body></html>"),
        # poll 3: ten good coins and one bad record
        Reply(200, [*good, bad]),
    )
    registry = CollectorRegistry()
    code = run_producer("crypto", "live", interval=0, count=10, registry=registry, own_process=False)
    assert code == 0

    requests = fake_api.requests_to(MARKETS)
    assert len(requests) == 5
    assert requests[1].monotonic - requests[0].monotonic >= 1.0  # Retry-After: 1 honoured
    assert requests[0].param("vs_currency") == "usd"
    assert (
        requests[0].param("ids")
        == "bitcoin,ethereum,tether,binancecoin,solana,ripple,usd-coin,cardano,dogecoin,tron"
    )
    assert "x-cg-demo-api-key" not in requests[0].headers

    labels = {"producer": "crypto", "source": "coingecko"}
    for status in ("429", "500", "timeout", "parse"):
        assert _value(registry, "datastack_producer_api_errors_total", **labels, status=status) == 1, status
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="error") == 2
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="ok") == 1
    assert _value(registry, "datastack_producer_records_rejected_total", **labels, reason="invalid") == 1
    assert _value(registry, "datastack_producer_messages_produced_total", **labels) == 10
    assert _value(registry, "datastack_producer_delivery_failures_total", **labels) == 0
    assert _value(registry, "datastack_producer_backoff_seconds_total", **labels) >= 1.0
    assert _value(registry, "datastack_producer_last_success_timestamp_seconds", **labels) > time.time() - 60

    keys = assert_topic(env, StreamName.CRYPTO, 10, "coingecko")
    assert not any(k.startswith("broken-coin") for k in keys)


@pytest.mark.parametrize("producer", ["github", "weather"])
def test_github_and_weather_survive_429_500_timeout_and_garbage(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch, producer: str
) -> None:
    """The same failures as for crypto, through each of the other two APIs' own request paths."""
    if producer == "github":
        path, source, stream, good = "/events", "github", StreamName.GITHUB, load_fixtures("github")[0]
    else:
        cities = ["zurich", "tokyo", "sao-paulo"]
        monkeypatch.setenv("WEATHER_CITIES", ",".join(cities))
        recorded = load_fixtures("open-meteo")[0]
        path, source, stream = "/v1/forecast", "open-meteo", StreamName.WEATHER
        good = [recorded[list(CATALOGUE).index(c)] for c in cities]
    fake_api.route(
        path,
        Reply(429, {"message": "slow down"}, {"Retry-After": "1"}),
        Reply(500, "Internal Server Error"),
        Reply(200, good, delay_s=1.0),  # slower than HTTP_TIMEOUT_S
        Reply(200, b"<html><body>Cloudflare says hi</body></html>"),
        Reply(200, good),
    )
    registry = CollectorRegistry()
    code = run_producer(producer, "live", interval=0, count=len(good), registry=registry, own_process=False)
    assert code == 0

    requests = fake_api.requests_to(path)
    assert len(requests) == 5
    assert requests[1].monotonic - requests[0].monotonic >= 1.0  # Retry-After: 1 honoured
    labels = {"producer": producer, "source": source}
    for status in ("429", "500", "timeout", "parse"):
        assert _value(registry, "datastack_producer_api_errors_total", **labels, status=status) == 1, status
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="error") == 2
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="ok") == 1
    assert _value(registry, "datastack_producer_messages_produced_total", **labels) == len(good)
    assert_topic(env, stream, len(good), source)


def test_crypto_sends_the_demo_key_header(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINGECKO_API_KEY", "CG-demo")
    monkeypatch.setenv("CRYPTO_COINS", "bitcoin,ethereum")
    fake_api.route(
        MARKETS, Reply(200, [r for r in load_fixtures("coingecko")[0] if r["id"] in ("bitcoin", "ethereum")])
    )
    assert run_producer("crypto", "live", once=True, registry=CollectorRegistry(), own_process=False) == 0
    [request] = fake_api.requests_to(MARKETS)
    assert request.headers["x-cg-demo-api-key"] == "CG-demo"
    assert request.param("ids") == "bitcoin,ethereum"
    assert_topic(env, StreamName.CRYPTO, 2, "coingecko")


def test_github_etag_poll_interval_and_rate_limit(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    first, second = load_fixtures("github")[:2]
    reset_at: dict[str, int] = {}

    def not_modified(request: Any) -> Reply:
        if request.headers.get("if-none-match") != '"etag-1"':
            return Reply(200, first, {"ETag": '"etag-1"', "X-Poll-Interval": "1"})
        reset_at["t"] = int(time.time()) + 1
        headers = {
            "X-Poll-Interval": "1",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset_at["t"]),
        }
        return Reply(304, b"", headers)

    fake_api.route(
        "/events",
        Reply(200, first, {"ETag": '"etag-1"', "X-Poll-Interval": "1", "X-RateLimit-Remaining": "59"}),
        not_modified,
        Reply(200, second, {"ETag": '"etag-2"', "X-Poll-Interval": "1"}),
    )
    registry = CollectorRegistry()
    count = len(first) + len(second)
    assert run_producer("github", "live", interval=0, count=count, registry=registry, own_process=False) == 0

    r1, r2, r3 = fake_api.requests_to("/events")
    assert r1.headers["authorization"] == "Bearer ghp_test"
    assert "if-none-match" not in r1.headers
    assert r2.headers["if-none-match"] == '"etag-1"'  # ETag sent back verbatim, quotes kept
    assert r2.monotonic - r1.monotonic >= 1.0  # X-Poll-Interval wins over --interval 0
    assert r3.wall >= reset_at["t"]  # waited for the rate-limit reset
    labels = {"producer": "github", "source": "github"}
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="not_modified") == 1
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="ok") == 2
    assert _value(registry, "datastack_producer_api_errors_total", **labels, status="304") == 0
    assert_topic(env, StreamName.GITHUB, count, "github")


def test_open_meteo_one_request_for_all_cities(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    cities = ["zurich", "tokyo", "sao-paulo"]
    monkeypatch.setenv("WEATHER_CITIES", ",".join(cities))
    recorded = load_fixtures("open-meteo")[0]
    order = list(CATALOGUE)
    fake_api.route("/v1/forecast", Reply(200, [recorded[order.index(c)] for c in cities]))
    assert run_producer("weather", "live", once=True, registry=CollectorRegistry(), own_process=False) == 0
    [request] = fake_api.requests_to("/v1/forecast")
    assert request.param("latitude") == "47.3667,35.6895,-23.5475"
    assert request.param("longitude") == "8.55,139.6917,-46.6361"
    assert set(str(request.param("current")).split(",")) >= {
        "temperature_2m",
        "relative_humidity_2m",
        "apparent_temperature",
        "rain",
        "weather_code",
        "wind_speed_10m",
        "surface_pressure",
    }
    keys = assert_topic(env, StreamName.WEATHER, 3, "open-meteo")
    assert sorted(k.split(":")[0] for k in keys) == sorted(cities)


def test_openweathermap_per_city_with_a_404_city(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENWEATHER_API_KEY", "owm-key")
    monkeypatch.setenv("WEATHER_CITIES", "zurich,tokyo,mcmurdo")
    docs = {str(doc["id"]): doc for doc in openweathermap_fixture()}
    mcmurdo = openweathermap_fixture()[list(CATALOGUE).index("mcmurdo")]

    def by_city(request: Any) -> Reply:
        city = request.param("id")
        if city == str(CATALOGUE["tokyo"].owm_id):
            return Reply(404, {"cod": "404", "message": "city not found"})
        if city is None:  # no OpenWeatherMap id: asked by coordinates
            return Reply(200, mcmurdo)
        return Reply(200, docs[city])

    fake_api.route("/data/2.5/weather", by_city)
    registry = CollectorRegistry()
    assert run_producer("weather", "live", once=True, registry=registry, own_process=False) == 0
    requests = fake_api.requests_to("/data/2.5/weather")
    assert len(requests) == 3
    assert all(r.param("appid") == "owm-key" and r.param("units") == "metric" for r in requests)
    assert (requests[2].param("lat"), requests[2].param("lon")) == ("-77.846", "166.676")
    labels = {"producer": "weather", "source": "openweathermap"}
    assert _value(registry, "datastack_producer_api_errors_total", **labels, status="404") == 1
    assert _value(registry, "datastack_producer_polls_total", **labels, outcome="ok") == 1
    keys = assert_topic(env, StreamName.WEATHER, 2, "openweathermap")
    assert sorted(k.split(":")[0] for k in keys) == ["mcmurdo", "zurich"]


def test_metrics_endpoint_serves_the_producer_metrics(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same registry is what /metrics serves; scrape it while the producer waits between polls."""
    with socket.socket() as probe:  # a free port for METRICS_PORT
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("METRICS_PORT", str(port))
    fake_api.route(MARKETS, Reply(200, load_fixtures("coingecko")[0]))
    registry = CollectorRegistry()
    stop = StopFlag()
    result: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault(
            "code",
            run_producer("crypto", "live", interval=3600, stop=stop, registry=registry, own_process=False),
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _value(
            registry, "datastack_producer_messages_produced_total", producer="crypto", source="coingecko"
        ):
            time.sleep(0.05)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert (
            'datastack_producer_messages_produced_total{producer="crypto",source="coingecko"} 10.0' in metrics
        )
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        stop.set("test")
        thread.join(timeout=15)
    assert result.get("code") == 0
    assert len(read_topic(env, StreamName.CRYPTO, 10)) == 10
