"""Backoff delays and the parsing of servers' retry hints."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.producers.backoff import Backoff, parse_rate_limit_reset, parse_retry_after
from services.producers.http import server_wait_s

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def test_ceiling_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=10.0)
    assert [backoff.ceiling(a) for a in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.ceiling(10_000) == 10.0  # no overflow for absurd attempt numbers


def test_full_jitter_stays_in_range_and_spreads() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, rng=random.Random(7))
    for attempt in range(6):
        delays = [backoff.delay(attempt) for _ in range(400)]
        ceiling = backoff.ceiling(attempt)
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter: uniform over [0, ceiling], so both halves of the range get used.
        assert min(delays) < 0.1 * ceiling
        assert max(delays) > 0.9 * ceiling


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    first = [Backoff(rng=random.Random(3)).delay(a) for a in range(5)]
    again = [Backoff(rng=random.Random(3)).delay(a) for a in range(5)]
    assert first == again


def test_server_hint_wins_over_jitter_but_is_capped() -> None:
    backoff = Backoff(base_s=1.0, cap_s=4.0, hint_cap_s=30.0)
    assert backoff.delay(0, server_hint_s=12.0) == 12.0  # longer than the jitter cap: still honoured
    assert backoff.delay(5, server_hint_s=0.0) == 0.0
    assert backoff.delay(0, server_hint_s=3600.0) == 30.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Thu, 26 Nov 2026 12:00:30 GMT", 30.0),  # HTTP-date
        ("Thu, 26 Nov 2026 11:59:00 GMT", 0.0),  # in the past: retry now
        ("Thursday, 26-Nov-26 12:01:00 GMT", 60.0),  # obsolete RFC 850 form, still valid
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_parse_rate_limit_reset() -> None:
    now = 1_800_000_000.0
    assert parse_rate_limit_reset("0", str(int(now) + 30), now) == 31.0  # +1 s margin
    assert parse_rate_limit_reset("0", str(int(now) - 30), now) == 1.0
    assert parse_rate_limit_reset("12", str(int(now) + 30), now) is None
    assert parse_rate_limit_reset(None, "1", now) is None
    assert parse_rate_limit_reset("0", "tomorrow", now) is None


def test_server_wait_prefers_retry_after_then_rate_limit_headers() -> None:
    reset = int((datetime.now(UTC) + timedelta(seconds=100)).timestamp())
    both = httpx.Response(
        403, headers={"Retry-After": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    assert server_wait_s(both) == 5.0
    limited = httpx.Response(403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    wait = server_wait_s(limited)
    assert wait is not None
    assert 95 < wait <= 101
    assert server_wait_s(httpx.Response(500)) is None
