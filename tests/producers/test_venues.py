"""The crypto producer polling five venues in one process, live, against the local fake API and the
real local Kafka: one venue failing (429, 500, an error in a 200 body, garbage, an unknown pair)
never stops the others, readiness follows the venues, and each venue's published rate limit holds.

The fake API plays the recorded answers with the current time, so every poll is fresh."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from services.config import KafkaSettings
from services.contract import StreamName
from services.producers.cli import run_producer
from services.producers.replay import load_fixtures
from services.producers.settings import DEFAULT_COINS
from services.producers.sources import kraken
from services.producers.venues import listing
from services.runtime import StopFlag
from tests.producers.conftest import FakeApi, Reply, Request, metric_value, topic_envelopes, wait_until

pytestmark = pytest.mark.integration

MARKETS = "/api/v3/coins/markets"
KRAKEN_TICKER = "/0/public/Ticker"
BITSTAMP_TICKERS = "/api/v2/ticker/"


def _now_iso(nanos: bool = False) -> str:
    now = datetime.now(UTC)
    fraction = f"{now.microsecond:06d}" + ("123" if nanos else "")
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def serve_coingecko(api: FakeApi) -> None:
    recorded = load_fixtures("coingecko")[0]
    api.route(MARKETS, lambda _: Reply(200, [{**r, "last_updated": _now_iso()} for r in recorded]))


def serve_coinbase(api: FakeApi, unlisted: frozenset[str] = frozenset()) -> None:
    """One route per recorded product; an `unlisted` one gets the fake's 404 `{"message": ...}`."""

    def fresh(body: dict[str, Any], _: Request) -> Reply:
        return Reply(200, {**body, "time": _now_iso(nanos=True)})

    for product, body in load_fixtures("coinbase")[0].items():
        if product not in unlisted:
            api.route(f"/products/{product}/ticker", partial(fresh, body))


def kraken_answer(request: Request) -> Reply:
    """Kraken's answer for the pairs asked, under its canonical names."""
    recorded = load_fixtures("kraken")[0]["result"]
    asked = str(request.param("pair")).split(",")
    keys = {kraken.CANONICAL.get(p, p) for p in asked}
    return Reply(200, {"error": [], "result": {k: v for k, v in recorded.items() if k in keys}})


def serve_bitstamp(api: FakeApi) -> None:
    recorded = load_fixtures("bitstamp")[0]
    api.route(
        BITSTAMP_TICKERS,
        lambda _: Reply(200, [{**r, "timestamp": str(int(time.time()))} for r in recorded]),
    )


def serve_gemini(api: FakeApi, script: Callable[[dict[str, Any], Request], Reply] | None = None) -> None:
    def fresh(body: dict[str, Any], _: Request) -> Reply:
        volume = {**body["volume"], "timestamp": int(time.time() * 1000)}
        return Reply(200, {**body, "volume": volume})

    for symbol, body in load_fixtures("gemini")[0].items():
        api.route(f"/v1/pubticker/{symbol}", partial(script or fresh, body))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def producing(registry: CollectorRegistry, interval: float) -> Iterator[dict[str, int]]:
    """`datastack produce crypto --source live` in a thread until the block ends (then stopped)."""
    stop = StopFlag()
    result: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault(
            "code",
            run_producer(
                "crypto", "live", interval=interval, stop=stop, registry=registry, own_process=False
            ),
        )
    )
    thread.start()
    try:
        yield result
    finally:
        stop.set("test")
        thread.join(timeout=30)
    assert not thread.is_alive(), "the producer did not stop"


def test_a_failing_venue_never_stops_the_others(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CoinGecko and Coinbase answer (Coinbase with one unknown product); Kraken reports an error in
    a 200 body, Bitstamp answers garbage, Gemini is rate limited for ten minutes. The good venues
    produce, every failure is counted under its venue, /readyz stays up, and SIGTERM is not held up
    by Gemini's Retry-After sleep."""
    port = _free_port()
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("CRYPTO_VENUES", "coingecko,coinbase,kraken,bitstamp,gemini")
    serve_coingecko(fake_api)
    serve_coinbase(fake_api, unlisted=frozenset({"ETH-USD"}))
    fake_api.route(KRAKEN_TICKER, Reply(200, {"error": ["EService:Unavailable"]}))
    fake_api.route(BITSTAMP_TICKERS, Reply(200, b"<html><body>502 Bad Gateway</body></html>"))
    serve_gemini(
        fake_api,
        lambda _, __: Reply(429, {"result": "error", "reason": "RateLimited"}, {"Retry-After": "600"}),
    )
    registry = CollectorRegistry()

    def value(name: str, source: str, **labels: str) -> float:
        return metric_value(registry, name, producer="crypto", source=source, **labels)

    with producing(registry, interval=3600) as result:
        wait_until(
            lambda: (
                value("datastack_producer_messages_produced_total", "coingecko") == 10
                and value("datastack_producer_messages_produced_total", "coinbase") == 6
                and value("datastack_producer_polls_total", "kraken", outcome="error") == 1
                and value("datastack_producer_polls_total", "bitstamp", outcome="error") == 1
                and value("datastack_producer_api_errors_total", "gemini", status="429") == 1
            ),
            timeout_s=30,
            what="good venues delivered and failing ones counted",
        )
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 200
        assert ready.json()["sources"] == {
            "coingecko": True,
            "coinbase": True,
            "kraken": False,
            "bitstamp": False,
            "gemini": None,  # still waiting out its Retry-After
        }
        stopped_at = time.monotonic()
    assert result["code"] == 0
    assert time.monotonic() - stopped_at < 15  # the Retry-After sleep ended with the stop

    assert value("datastack_producer_api_errors_total", "kraken", status="api_error") == 1
    assert value("datastack_producer_api_errors_total", "bitstamp", status="parse") == 1
    assert value("datastack_producer_api_errors_total", "coinbase", status="404") == 1
    assert value("datastack_producer_records_rejected_total", "coinbase", reason="unlisted") == 1
    assert value("datastack_producer_backoff_seconds_total", "gemini") == 600
    assert value("datastack_producer_polls_total", "coingecko", outcome="ok") == 1
    for venue in ("kraken", "bitstamp", "gemini"):
        assert value("datastack_producer_messages_produced_total", venue) == 0
    assert len(fake_api.requests_to("/v1/pubticker/btcusd")) == 1  # it waits, it does not hammer
    assert fake_api.requests_to("/v1/pubticker/ethusd") == []  # the rest of that poll waits too

    envelopes = topic_envelopes(env, StreamName.CRYPTO, 16, {"coingecko", "coinbase"})
    coinbase = sorted(e.payload.coin_id for e in envelopes if e.source == "coinbase")
    assert coinbase == sorted(
        c for c in listing("coinbase", DEFAULT_COINS.split(","))[0].coin_ids() if c != "ethereum"
    )
    assert all(e.payload.venue == e.source for e in envelopes)


def test_readiness_needs_one_working_venue(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("CRYPTO_VENUES", "kraken,bitstamp")
    recovered = threading.Event()
    fake_api.route(
        KRAKEN_TICKER,
        lambda req: kraken_answer(req) if recovered.is_set() else Reply(200, {"error": ["EService:Busy"]}),
    )
    fake_api.route(BITSTAMP_TICKERS, Reply(500, "Internal Server Error"))
    registry = CollectorRegistry()

    def value(name: str, source: str, **labels: str) -> float:
        return metric_value(registry, name, producer="crypto", source=source, **labels)

    with producing(registry, interval=0) as result:
        wait_until(
            lambda: (
                value("datastack_producer_polls_total", "kraken", outcome="error") >= 1
                and value("datastack_producer_polls_total", "bitstamp", outcome="error") >= 1
            ),
            timeout_s=30,
            what="both venues failed once",
        )
        down = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert down.status_code == 503
        assert down.json()["last_poll_ok"] is False
        recovered.set()
        wait_until(
            lambda: value("datastack_producer_messages_produced_total", "kraken") >= 9,
            timeout_s=30,
            what="Kraken back",
        )
        up = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert up.status_code == 200
        assert up.json()["sources"]["kraken"] is True
        assert up.json()["sources"]["bitstamp"] is False
    assert result["code"] == 0


# (venue, request path prefix, published limit: at most N requests in any window of S seconds)
LIMITS = [
    ("coinbase", "/products/", 10, 1.0),
    ("kraken", KRAKEN_TICKER, 1, 1.0),
    ("bitstamp", BITSTAMP_TICKERS, 14, 1.0),  # 8,000 per 10 minutes is 13.3 per second
    ("gemini", "/v1/pubticker/", 2, 1.0),  # 120 per minute, per second
]


def test_each_venue_stays_within_its_published_rate_limit(
    env: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polling as fast as allowed (--interval 0), the requests the fake API counts per venue never
    exceed the venue's limit in any window; counts, not timings, are asserted."""
    monkeypatch.setenv("CRYPTO_VENUES", "coinbase,kraken,bitstamp,gemini")
    serve_coinbase(fake_api)
    fake_api.route(KRAKEN_TICKER, kraken_answer)
    serve_bitstamp(fake_api)
    serve_gemini(fake_api)

    def requests(prefix: str) -> list[float]:
        return sorted(r.monotonic for r in fake_api.requests if r.path.startswith(prefix))

    with producing(CollectorRegistry(), interval=0) as result:
        # Enough traffic that an unpaced client would have broken every limit many times over.
        wait_until(
            lambda: len(requests("/products/")) >= 16 and len(requests(KRAKEN_TICKER)) >= 2,
            timeout_s=60,
            what="a few seconds of polling",
        )
    assert result["code"] == 0
    for venue, prefix, limit, window in LIMITS:
        times = requests(prefix)
        assert len(times) >= 2, venue
        busiest = max(sum(1 for u in times if t <= u < t + window) for t in times)
        assert busiest <= limit, (venue, busiest, limit)
    # One request per product / pair, and Kraken's several pairs in one request.
    coinbase_products = {r.path for r in fake_api.requests if r.path.startswith("/products/")}
    assert len(coinbase_products) == len(listing("coinbase", DEFAULT_COINS.split(","))[0].coins)
    kraken_request = next(r for r in fake_api.requests if r.path == KRAKEN_TICKER)
    assert str(kraken_request.param("pair")).split(",") == [
        c.pair for c in listing("kraken", DEFAULT_COINS.split(","))[0].coins
    ]
