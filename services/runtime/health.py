"""One small HTTP server per process: /metrics (Prometheus), /healthz (liveness), /readyz."""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from services.config import ConfigError, ServiceSettings

log = logging.getLogger(__name__)


class Health:
    """Liveness = the main loop ticked recently; readiness = the service says its deps are usable."""

    def __init__(self, stall_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stall_after_s = stall_after_s
        self._clock = clock
        self._last_tick = clock()
        self._ready = False
        self._detail: dict[str, Any] = {}
        self._lock = threading.Lock()

    def tick(self) -> None:
        self._last_tick = self._clock()

    def set_ready(self, ready: bool, **detail: Any) -> None:
        with self._lock:
            self._ready = ready
            self._detail = detail

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        age = self._clock() - self._last_tick
        return age < self._stall_after_s, {"last_tick_age_s": round(age, 3)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            return self._ready, dict(self._detail)


class ServiceServer:
    def __init__(self, health: Health, host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self.health = health
        handler = _make_handler(health, registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="service-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ServiceServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(
    health: Health,
    settings: ServiceSettings,
    service: str,
    registry: CollectorRegistry = REGISTRY,
    *,
    one_shot: bool = False,
) -> ServiceServer | None:
    """Start the service's /metrics, /healthz and /readyz server on its port.

    A long-running service that cannot bind fails at start-up with a ConfigError naming
    METRICS_PORT (probes and scrapes would otherwise hit another process). A one-shot run
    (`--once`, `--count`) needs no probes: it logs a warning and goes on without the server.
    """
    port = settings.port_for(service)
    try:
        return ServiceServer(health, settings.metrics_host, port, registry).start()
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        if one_shot:
            log.warning(
                "metrics server not started; continuing without it",
                extra={"metrics_port": port, "error": exc.strerror},
            )
            return None
        raise ConfigError(
            f"METRICS_PORT={port}: cannot serve /metrics and /healthz on "
            f"{settings.metrics_host}:{port} ({exc.strerror}); another process has it. "
            "Set METRICS_PORT to a free port (0 picks one)."
        ) from None


def _make_handler(health: Health, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/livez"):
                self._json(*health.liveness())
            elif path == "/readyz":
                self._json(*health.readiness())
            else:
                self._send(404, b"not found\n", "text/plain")

        def _json(self, ok: bool, detail: dict[str, Any]) -> None:
            body = json.dumps({"status": "ok" if ok else "fail", **detail}).encode()
            self._send(200 if ok else 503, body, "application/json")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the service's own logs

    return Handler
