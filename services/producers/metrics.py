"""Prometheus metrics of one producer process, labelled by producer (crypto/github/weather) and source
(coingecko, coinbase, kraken, bitstamp, gemini, github, open-meteo, openweathermap, synthetic).

A `ProducerMetrics` owns its collectors on a given registry, so tests can run producers in-process on
a private `CollectorRegistry` and read exact values. The crypto producer polls several venues in one
process: `for_source` gives each its own `source` label on the same collectors, so every venue's
polls, API errors, backoff and last success are counted apart.
"""

from __future__ import annotations

import copy
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


class ProducerMetrics:
    def __init__(self, producer: str, source: str, registry: CollectorRegistry = REGISTRY) -> None:
        labels = ("producer", "source")
        self.registry = registry
        self.source = source
        self._labels = {"producer": producer, "source": source}
        self._polls = Counter(
            "datastack_producer_polls",
            "API polls by outcome (ok, not_modified, error)",
            (*labels, "outcome"),
            registry=registry,
        )
        self._produced = Counter(
            "datastack_producer_messages_produced",
            "Messages delivered to Kafka (acknowledged)",
            labels,
            registry=registry,
        )
        self._delivery_failures = Counter(
            "datastack_producer_delivery_failures",
            "Messages Kafka did not acknowledge",
            labels,
            registry=registry,
        )
        self._api_errors = Counter(
            "datastack_producer_api_errors",
            "Failed API requests by status: HTTP code, timeout, connection, parse",
            (*labels, "status"),
            registry=registry,
        )
        self._rejected = Counter(
            "datastack_producer_records_rejected",
            "Records the parser rejected (bad shape, contract violation, oversize)",
            (*labels, "reason"),
            registry=registry,
        )
        self._backoff = Counter(
            "datastack_producer_backoff_seconds",
            "Seconds spent sleeping before retries",
            labels,
            registry=registry,
        )
        self._last_success = Gauge(
            "datastack_producer_last_success_timestamp_seconds",
            "Unix time of the last poll that returned usable data",
            labels,
            registry=registry,
        )

    def for_source(self, source: str) -> ProducerMetrics:
        """The same collectors, counting under another `source` label."""
        view = copy.copy(self)
        view.source = source
        view._labels = {**self._labels, "source": source}
        return view

    def poll(self, outcome: str) -> None:
        self._polls.labels(**self._labels, outcome=outcome).inc()
        if outcome in ("ok", "not_modified"):
            self._last_success.labels(**self._labels).set(time.time())

    def produced(self, n: int = 1) -> None:
        self._produced.labels(**self._labels).inc(n)

    def delivery_failed(self, n: int = 1) -> None:
        self._delivery_failures.labels(**self._labels).inc(n)

    def api_error(self, status: str) -> None:
        self._api_errors.labels(**self._labels, status=status).inc()

    def rejected(self, reason: str, n: int = 1) -> None:
        self._rejected.labels(**self._labels, reason=reason).inc(n)

    def backoff(self, seconds: float) -> None:
        self._backoff.labels(**self._labels).inc(seconds)
