"""Helpers for producer tests: a real local HTTP server standing in for the APIs, a Kafka reader,
and a runner for `datastack produce` subprocesses whose logs can be waited on."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from prometheus_client import CollectorRegistry

from services.config import KafkaSettings
from services.contract import STREAMS, StreamName
from services.contract.envelope import Envelope, decode

DATASTACK = str(Path(sys.executable).with_name("datastack"))


# --- a scripted HTTP API -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    """bytes/str are sent as they are; anything else as JSON."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Sleep before answering (to trigger the client's timeout)."""


@dataclass(frozen=True)
class Request:
    monotonic: float
    wall: float
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Script = Reply | Callable[[Request], Reply]


class FakeApi:
    """A real HTTP server on 127.0.0.1 that plays scripted replies per path and logs requests.

    Each path's replies are served in order; the last one repeats.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: dict[str, list[Script]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, path: str, *replies: Script) -> None:
        self._routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self._routes.get(request.path)
            if not script:
                return Reply(404, {"message": "Not Found"})
            index = self._served.get(request.path, 0)
            self._served[request.path] = index + 1
            step = script[min(index, len(script) - 1)]
        return step(request) if callable(step) else step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    time.monotonic(),
                    time.time(),
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                reply = api._next(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body
                if not isinstance(body, bytes | str):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if reply.status != 304:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with FakeApi() as api:
        yield api


# --- in-process producers against the fake API ---------------------------------------------------


@pytest.fixture
def env(kafka_settings: KafkaSettings, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> KafkaSettings:
    """Point an in-process producer at the test's topics and the fake API; fast timeouts/backoff."""
    for key, value in {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_TOPIC_NAMESPACE": kafka_settings.topic_namespace,
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
        "COINGECKO_BASE_URL": fake_api.url,
        "COINBASE_BASE_URL": fake_api.url,
        "KRAKEN_BASE_URL": fake_api.url,
        "BITSTAMP_BASE_URL": fake_api.url,
        "GEMINI_BASE_URL": fake_api.url,
        # CoinGecko alone unless a test asks for more (test_venues.py covers the exchanges).
        "CRYPTO_VENUES": "coingecko",
        "GITHUB_API_URL": fake_api.url,
        "OPEN_METEO_BASE_URL": fake_api.url,
        "OPENWEATHER_BASE_URL": fake_api.url,
        "HTTP_TIMEOUT_S": "0.3",
        "BACKOFF_BASE_S": "0.05",
        "BACKOFF_MAX_S": "0.2",
        "HTTP_MAX_ATTEMPTS": "3",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("COINGECKO_API_KEY", "GITHUB_TOKEN", "OPENWEATHER_API_KEY", "WEATHER_CITIES", "CRYPTO_COINS"):
        monkeypatch.delenv(key, raising=False)
    return kafka_settings


def metric_value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


# --- Kafka --------------------------------------------------------------------------------------------


def topic_size(kafka: KafkaSettings, topic: str) -> int:
    """Messages in a topic (sum of high watermarks; the namespaced topics start empty)."""
    consumer = Consumer({**kafka.client_config(), "group.id": f"size-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=10)
        total = 0
        for partition in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def read_topic(
    kafka: KafkaSettings, stream: StreamName, expected: int, timeout_s: float = 30
) -> list[Message]:
    """Read `expected` messages from the start of the stream's topic (no consumer group join)."""
    topic = STREAMS[stream].topic(kafka.topic_namespace)
    consumer = Consumer(
        {
            **kafka.client_config(),
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.topics[topic].partitions])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(messages) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=expected - len(messages), timeout=0.5):
                if msg.error() is None:
                    messages.append(msg)
        return messages
    finally:
        consumer.close()


def assert_topic(
    kafka: KafkaSettings, stream: StreamName, expected: int, source: str | Collection[str]
) -> list[str]:
    """Exactly `expected` messages, each valid against the contract and keyed by its natural key."""
    return [env.key for env in topic_envelopes(kafka, stream, expected, source)]


def topic_envelopes(
    kafka: KafkaSettings, stream: StreamName, expected: int, source: str | Collection[str]
) -> list[Envelope[Any]]:
    """The topic's `expected` messages decoded by the sink's own strict `decode`, each with its
    natural key as Kafka key, the stream's headers and an envelope `source` among `source`."""
    sources = {source} if isinstance(source, str) else set(source)
    topic = STREAMS[stream].topic(kafka.topic_namespace)
    assert topic_size(kafka, topic) == expected
    messages = read_topic(kafka, stream, expected)
    assert len(messages) == expected
    headers = {
        "content-type": b"application/json",
        "schema-version": str(STREAMS[stream].schema_version).encode(),
    }
    envelopes = []
    for msg in messages:
        env = decode(STREAMS[stream], msg.value(), msg.key())
        assert msg.key() == env.key.encode()
        assert env.source in sources
        assert dict(msg.headers() or []) == headers
        envelopes.append(env)
    assert len({e.key for e in envelopes}) == expected, "natural keys repeat"
    return envelopes


# --- subprocesses ---------------------------------------------------------------------------------------


class ProducerProcess:
    """`datastack produce ...` with stderr (JSON logs) collected line by line in the background."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [DATASTACK, "produce", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)

    def _drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def logs(self) -> list[dict[str, Any]]:
        self._drain()
        out = []
        for line in self.lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def wait_for_log(self, message: str, timeout_s: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for entry in self.logs():
                if entry.get("message") == message:
                    return entry
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self._drain()
        raise AssertionError(f"no {message!r} log line; stderr:\n{''.join(self.lines)[-3000:]}")

    def wait(self, timeout_s: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._reader.join(timeout=5)
            self._drain()
            raise AssertionError(
                f"did not exit within {timeout_s}s; stderr:\n{''.join(self.lines)[-3000:]}"
            ) from None
        self._reader.join(timeout=5)
        self._drain()
        return code

    @property
    def stderr(self) -> str:
        self._drain()
        return "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def spawn() -> Iterator[Callable[[list[str], dict[str, str]], ProducerProcess]]:
    started: list[ProducerProcess] = []

    def _spawn(args: list[str], env: dict[str, str]) -> ProducerProcess:
        proc = ProducerProcess(args, env)
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        proc.kill()


def wait_until(condition: Callable[[], bool], timeout_s: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
