"""HTTP GET with retries: backoff on 429/5xx/timeouts/connection errors, honouring server hints.

Everything a poll needs to know about failure is in one exception, `FetchError`; the runner counts it
and waits for the next poll. Sleeps go through the StopFlag so SIGTERM interrupts them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from services.producers.backoff import Backoff, parse_rate_limit_reset, parse_retry_after
from services.producers.metrics import ProducerMetrics
from services.runtime import StopFlag

log = logging.getLogger(__name__)

USER_AGENT = "datastack-producer/0.1 (+https://github.com/datastack)"


class FetchError(Exception):
    """A poll could not get a usable response.

    `status` is the metrics label ("429", "500", "timeout", "connection", "parse", "stopped");
    `wait_s`, when set, is how long the server asked us to stay away (rate limits).
    """

    def __init__(self, status: str, reason: str, wait_s: float | None = None) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.wait_s = wait_s


class PayloadError(Exception):
    """The body is not the shape the parser expects at all (not JSON, an error object, ...).

    `status` is the metrics label ("parse" for garbage; an API that reports errors inside a 200
    body, like Kraken, uses "api_error" or "rate_limited"); `wait_s` as for FetchError."""

    def __init__(self, reason: str, status: str = "parse", wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.wait_s = wait_s


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def server_wait_s(response: httpx.Response) -> float | None:
    """The delay the server asks for: Retry-After, else an exhausted GitHub rate-limit window."""
    hint = parse_retry_after(response.headers.get("retry-after"))
    if hint is not None:
        return hint
    return parse_rate_limit_reset(
        response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset"), time.time()
    )


class Fetcher:
    """A shared httpx client plus the retry policy; one per producer process."""

    def __init__(
        self,
        client: httpx.Client,
        backoff: Backoff,
        max_attempts: int,
        stop: StopFlag,
        metrics: ProducerMetrics,
        on_wait: Callable[[], None] = lambda: None,
        min_interval_s: float = 0.0,
    ) -> None:
        self._client = client
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._stop = stop
        self.metrics = metrics
        self._on_wait = on_wait
        self._min_interval_s = min_interval_s
        self._next_request_at = 0.0

    @classmethod
    def create(
        cls,
        timeout_s: float,
        backoff: Backoff,
        max_attempts: int,
        stop: StopFlag,
        metrics: ProducerMetrics,
        on_wait: Callable[[], None] = lambda: None,
        min_interval_s: float = 0.0,
    ) -> Fetcher:
        """`on_wait` runs about once a second during backoff sleeps (the liveness tick: a 15-minute
        Retry-After is the server's wish, not a hung process). `min_interval_s` spaces every request
        of this fetcher, retries included: the API's published rate limit (see venues.py)."""
        client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )
        return cls(client, backoff, max_attempts, stop, metrics, on_wait, min_interval_s)

    def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early on stop; True when stopping."""
        deadline = time.monotonic() + seconds
        while True:
            self._on_wait()
            left = deadline - time.monotonic()
            if left <= 0:
                return self._stop.is_set()
            if self._stop.wait(min(left, 1.0)):
                return True

    def close(self) -> None:
        self._client.close()

    def _pace(self) -> None:
        """Wait until the next request is allowed; FetchError("stopped") when stopping meanwhile."""
        wait = self._next_request_at - time.monotonic()
        if wait > 0 and self._sleep(wait):
            raise FetchError("stopped", "shutdown requested while pacing requests")
        self._next_request_at = time.monotonic() + self._min_interval_s

    def get(
        self, url: str, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """GET with retries. Returns a 2xx or 304 response; raises FetchError otherwise."""
        for attempt in range(self._max_attempts):
            self._on_wait()  # a poll of many slow requests (one per city) is progress, not a hang
            self._pace()
            hint: float | None = None
            try:
                response = self._client.get(url, params=params, headers=headers)
            except httpx.TimeoutException as exc:
                status, reason = "timeout", f"{type(exc).__name__} after {self._client.timeout.read}s"
            except httpx.TransportError as exc:
                status, reason = "connection", f"{type(exc).__name__}: {exc}"
            else:
                code = response.status_code
                if code < 300 or code == 304:
                    return response
                status, reason = str(code), _error_excerpt(response)
                hint = server_wait_s(response)
                # GitHub answers an exhausted rate limit with 403 (primary) or 403/429 + Retry-After
                # (secondary limits); other 4xx will not get better by asking again.
                rate_limited = code == 403 and hint is not None
                if not (_retryable(code) or rate_limited):
                    self.metrics.api_error(status)
                    raise FetchError(status, reason)
            self.metrics.api_error(status)
            if attempt + 1 >= self._max_attempts:
                raise FetchError(status, f"{reason} (gave up after {attempt + 1} attempts)", hint)
            if hint is not None and hint > self._backoff.hint_cap_s:
                # Too long to hold the poll open; the runner waits it out before polling again.
                raise FetchError(status, f"{reason} (server asks for {hint:.0f}s)", hint)
            delay = self._backoff.delay(attempt, hint)
            log.warning(
                "api request failed, retrying",
                extra={
                    "url": url,
                    "status": status,
                    "reason": reason,
                    "attempt": attempt + 1,
                    "sleep_s": delay,
                },
            )
            self.metrics.backoff(delay)
            if self._sleep(delay):
                raise FetchError("stopped", "shutdown requested during backoff")
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


def _error_excerpt(response: httpx.Response) -> str:
    text = response.text[:200].replace("\n", " ")
    return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or PayloadError for garbage (HTML error pages, truncated bodies)."""
    try:
        return json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        excerpt = response.content[:80].decode("utf-8", "replace")
        raise PayloadError(f"body is not JSON ({str(exc)[:120]}): {excerpt!r}") from None
