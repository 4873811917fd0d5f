"""The per-process health/metrics server and the stop flag."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import uuid

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from services.config import (
    DEFAULT_METRICS_PORTS,
    ConfigError,
    KafkaSettings,
    PostgresSettings,
    ServiceSettings,
)
from services.runtime import Health, ServiceServer, StopFlag, install_signal_handlers, serve
from tests.conftest import service_env
from tests.sink.conftest import total_rows
from tests.support.proc import DATASTACK
from tests.support.wait import wait_until


def test_health_metrics_and_readiness() -> None:
    registry = CollectorRegistry()
    Counter("things", "Things", registry=registry).inc(3)
    now = [1000.0]
    health = Health(stall_after_s=30, clock=lambda: now[0])
    server = ServiceServer(health, "127.0.0.1", 0, registry).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert "things_total 3.0" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 503  # not ready until the service says so
        health.set_ready(True, assigned=3)
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200
        assert ready.json()["assigned"] == 3
        now[0] += 31  # the main loop has not ticked for longer than stall_after_s
        assert httpx.get(f"{base}/healthz").status_code == 503
        health.tick()
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/nope").status_code == 404
    finally:
        server.stop()


def test_sigterm_sets_the_stop_flag() -> None:
    flag = StopFlag()
    previous = signal.getsignal(signal.SIGTERM)
    install_signal_handlers(flag)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.wait(5)
        assert flag.signal_name == "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_each_service_has_its_own_default_metrics_port() -> None:
    settings = ServiceSettings(metrics_port=None)
    ports = [settings.port_for(name) for name in DEFAULT_METRICS_PORTS]
    assert len(set(ports)) == len(ports) == 5
    assert ServiceSettings(metrics_port=7000).port_for("sink") == 7000  # METRICS_PORT wins


def test_long_running_service_on_a_taken_port_fails_naming_metrics_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**service_env(), "METRICS_PORT": str(port), "METRICS_HOST": "127.0.0.1"}
        # Before anything connects: no Kafka or PostgreSQL needed to see the error.
        done = subprocess.run([DATASTACK, "sink"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"METRICS_PORT={port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_one_shot_service_runs_without_its_metrics_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        health = Health(stall_after_s=30)
        settings = ServiceSettings(metrics_port=taken.getsockname()[1], metrics_host="127.0.0.1")
        assert serve(health, settings, "lake-sync", one_shot=True) is None
        with pytest.raises(ConfigError, match="METRICS_PORT"):
            serve(health, settings, "lake-sync", one_shot=False)


def test_readme_sink_and_producer_side_by_side_without_metrics_port(
    kafka_settings: KafkaSettings, pg_settings: PostgresSettings
) -> None:
    """The README's two-terminal recipe: neither sets METRICS_PORT, and both run."""
    env = service_env(kafka_settings, pg_settings, SINK_GROUP_ID=f"sink-{uuid.uuid4().hex[:8]}")
    del env["METRICS_PORT"]
    sink = subprocess.Popen([DATASTACK, "sink"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        produced = subprocess.run(
            [DATASTACK, "produce", "crypto", "--count", "20"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert produced.returncode == 0, produced.stderr
        wait_until(lambda: total_rows(pg_settings), lambda n: n >= 20, timeout=60, what="20 rows")
        assert sink.poll() is None, "the sink died"
    finally:
        sink.send_signal(signal.SIGTERM)
        _out, err = sink.communicate(timeout=60)
    assert sink.returncode == 0, err
    assert "Address already in use" not in err
