"""The per-process health/metrics server and the stop flag."""

from __future__ import annotations

import os
import signal

import httpx
from prometheus_client import CollectorRegistry, Counter

from services.runtime import Health, ServiceServer, StopFlag, install_signal_handlers


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
