"""Retry delays: exponential backoff with full jitter, and parsing of the servers' own hints.

Full jitter (sleep uniformly in [0, min(cap, base * 2**attempt)]) spreads retries of many clients
instead of synchronising them (AWS Architecture Blog, "Exponential Backoff And Jitter"). A server's
explicit `Retry-After` or rate-limit reset wins over our guess, up to a cap of its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass
class Backoff:
    base_s: float = 1.0
    """Upper bound of the first (attempt 0) jittered sleep."""
    cap_s: float = 60.0
    """Upper bound of any jittered sleep."""
    hint_cap_s: float = 900.0
    """Upper bound when the server names the delay (Retry-After, rate-limit reset)."""
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, attempt: int) -> float:
        """The largest delay full jitter may pick for this attempt (0-based)."""
        # min() before the power would overflow for silly attempt numbers.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int, server_hint_s: float | None = None) -> float:
        """Seconds to sleep before retry number `attempt + 1`."""
        if server_hint_s is not None:
            return max(0.0, min(server_hint_s, self.hint_cap_s))
        return float(self.rng.uniform(0.0, self.ceiling(attempt)))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: either delta-seconds ("120") or an HTTP date.

    Returns None when absent or unparseable (the caller then falls back to jittered backoff);
    a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; some servers omit the zone
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def parse_rate_limit_reset(remaining: str | None, reset: str | None, now_epoch: float) -> float | None:
    """GitHub-style `X-RateLimit-Remaining: 0` + `X-RateLimit-Reset: <epoch s>` -> seconds to wait.

    None while requests remain (or the headers are missing/garbled).
    """
    if remaining is None or reset is None:
        return None
    try:
        if int(remaining.strip()) > 0:
            return None
        reset_at = float(reset.strip())
    except ValueError:
        return None
    # +1: the reset second itself may still count against the old window.
    return max(0.0, reset_at - now_epoch) + 1.0
