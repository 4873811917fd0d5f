"""GitHub public events `GET /events` -> GithubEvent.

Polling etiquette (GitHub REST docs, "Events"): send the last `ETag` back as `If-None-Match` (a 304
means nothing new and does not count against the rate limit), never poll faster than
`X-Poll-Interval` says, and when `X-RateLimit-Remaining` hits 0 wait until `X-RateLimit-Reset`.

Every payload field is optional: since 2025 a PushEvent payload carries only
`repository_id, push_id, ref, head, before` (no commits), `org` appears only sometimes, and payload
shapes differ per event type, so the payload is kept whole.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import httpx

from services.contract import GithubEvent, StreamName
from services.producers.backoff import parse_rate_limit_reset
from services.producers.http import Fetcher, FetchError, PayloadError, json_body
from services.producers.settings import GithubSettings
from services.producers.sources.base import Parsed, PollResult, Rejection, build, get_path

log = logging.getLogger(__name__)

LABEL = "github"
_ACTION = re.compile(r"^[a-z_]{1,64}$")


def parse_events(doc: Any) -> Parsed:
    if not isinstance(doc, list):
        detail = doc.get("message") if isinstance(doc, dict) else None
        raise PayloadError(f"expected a JSON array of events, got {type(doc).__name__}: {str(detail)[:120]}")
    out = Parsed()
    for index, event in enumerate(doc):
        if not isinstance(event, dict):
            out.rejections.append(
                Rejection("shape", f"item {index} is {type(event).__name__}, not an object")
            )
            continue
        event_id = event.get("id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            event_id = str(event_id)  # documented as a string; tolerate a number
        payload = event.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            out.rejections.append(
                Rejection("shape", f"payload is {type(payload).__name__}, not an object", str(event_id))
            )
            continue
        action = payload.get("action")
        org_login = get_path(event, "org", "login")
        public = event.get("public")
        built = build(
            GithubEvent,
            {
                "event_id": event_id,
                "event_type": event.get("type"),
                "actor_id": get_path(event, "actor", "id"),
                "actor_login": get_path(event, "actor", "login"),
                "repo_id": get_path(event, "repo", "id"),
                "repo_name": get_path(event, "repo", "name"),
                "org_login": org_login,
                # `action` is a convenience copy; an odd value stays in the payload rather than
                # costing us the event.
                "action": action if isinstance(action, str) and _ACTION.match(action) else None,
                "public": public if isinstance(public, bool) else True,
                "created_at": event.get("created_at"),
                "payload": payload,
            },
            str(event_id) if event_id is not None else f"#{index}",
            out.rejections,
        )
        if built is not None:
            out.records.append(built)
    return out


class GithubLive:
    stream = StreamName.GITHUB
    label = LABEL

    def __init__(self, settings: GithubSettings, fetcher: Fetcher) -> None:
        self._settings = settings
        self._fetcher = fetcher
        self._etag: str | None = None
        self.poll_interval_s = 0.0
        """The server's latest X-Poll-Interval (seconds)."""

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self._settings.github_token is not None:
            headers["Authorization"] = f"Bearer {self._settings.github_token.get_secret_value()}"
        if self._etag:
            headers["If-None-Match"] = self._etag
        return headers

    def poll(self) -> PollResult:
        try:
            response = self._fetcher.get(
                f"{self._settings.github_api_url}/events",
                params={"per_page": str(self._settings.github_per_page)},
                headers=self._headers(),
            )
        except FetchError as exc:
            # A failed poll still must not be followed by a faster one than GitHub allows.
            exc.wait_s = max(exc.wait_s or 0.0, self.poll_interval_s)
            raise
        min_wait = self._min_wait(response)
        if response.status_code == 304:
            return PollResult(Parsed(), min_wait_s=min_wait, not_modified=True)
        parsed = parse_events(json_body(response))
        # Only remember the ETag of a body we could read, so garbage is not cached as "seen".
        etag = response.headers.get("etag")
        if etag:
            self._etag = etag  # quotes and W/ prefix kept: the server compares it verbatim
        return PollResult(parsed, min_wait_s=min_wait)

    def _min_wait(self, response: httpx.Response) -> float:
        interval = response.headers.get("x-poll-interval")
        if interval is not None:
            try:
                self.poll_interval_s = max(0.0, float(interval))
            except ValueError:
                log.warning("ignoring malformed X-Poll-Interval", extra={"value": interval[:40]})
        reset_wait = parse_rate_limit_reset(
            response.headers.get("x-ratelimit-remaining"),
            response.headers.get("x-ratelimit-reset"),
            time.time(),
        )
        if reset_wait is not None:
            log.warning("rate limit exhausted, waiting for the reset", extra={"wait_s": round(reset_wait, 1)})
        return max(self.poll_interval_s, reset_wait or 0.0)

    def close(self) -> None:
        """The fetcher is shared and closed by the runner."""
