"""Replay: bundled recordings of real API responses, looped forever, parsed by the live parsers.

A recording is P consecutive poll responses (`fixtures/<api>-<n>.json`). The replay timeline is the
recorded one shifted so the first replayed poll's newest observation falls in the minute of the
start time; each later cycle moves forward by the recording's span plus one poll step, so natural
keys stay fresh and the output is a pure function of the start time. GitHub event ids move forward by
the id range of the recording per cycle (counted from the recording, not from this run), so a
restart later on does not replay ids an earlier run already sent.

Replay is real-time playback: a poll whose data would lie more than `max_ahead_s` in the future of
the wall clock waits (the contract rejects timestamps more than an hour ahead).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import resources
from typing import Any

from services.config import ConfigError
from services.contract import StreamName
from services.producers.cities import CATALOGUE, City
from services.producers.sources.base import Parsed, PollResult
from services.producers.sources.crypto import LABEL as COINGECKO
from services.producers.sources.crypto import parse_markets
from services.producers.sources.github import LABEL as GITHUB
from services.producers.sources.github import parse_events
from services.producers.sources.weather import OPEN_METEO, parse_open_meteo

log = logging.getLogger(__name__)

FIXTURE_FILES: dict[str, str] = {
    COINGECKO: "coingecko-markets",
    GITHUB: "github-events",
    OPEN_METEO: "open-meteo-forecast",
}


def load_fixtures(api: str) -> list[Any]:
    """The recorded responses of one API, in poll order."""
    prefix = FIXTURE_FILES[api]
    folder = resources.files("services.producers") / "fixtures"
    names = sorted(
        (p.name for p in folder.iterdir() if p.name.startswith(prefix + "-") and p.name.endswith(".json")),
        key=lambda n: int(n.removeprefix(prefix + "-").removesuffix(".json")),
    )
    if not names:
        raise FileNotFoundError(f"no fixtures for {api} in {folder}")
    return [json.loads((folder / n).read_text(encoding="utf-8")) for n in names]


def openweathermap_fixture() -> list[Any]:
    """Recorded `/data/2.5/weather` answers, one per catalogue city (used by tests and docs)."""
    folder = resources.files("services.producers") / "fixtures"
    doc: list[Any] = json.loads((folder / "openweathermap-weather.json").read_text(encoding="utf-8"))
    return doc


# --- per-API knowledge: where the timestamps (and ids) are, and how to move them -------------------


def _iso_z(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _coingecko_times(doc: Any) -> list[float]:
    return [
        _parse_iso(r["last_updated"]).timestamp()
        for r in doc
        if isinstance(r, dict) and r.get("last_updated")
    ]


def _coingecko_shift(doc: Any, seconds: int, _cycle: int) -> Any:
    out = copy.deepcopy(doc)
    for rec in out:
        if isinstance(rec, dict) and isinstance(rec.get("last_updated"), str):
            rec["last_updated"] = _iso_z(_parse_iso(rec["last_updated"]) + timedelta(seconds=seconds))
    return out


def _github_times(doc: Any) -> list[float]:
    return [
        _parse_iso(e["created_at"]).timestamp() for e in doc if isinstance(e, dict) and e.get("created_at")
    ]


def _github_ids(docs: Sequence[Any]) -> list[int]:
    return [int(e["id"]) for d in docs for e in d if isinstance(e, dict) and str(e.get("id", "")).isdigit()]


def _github_shift(doc: Any, seconds: int, cycle: int, stride: int) -> Any:
    out = copy.deepcopy(doc)
    for event in out:
        if not isinstance(event, dict):
            continue
        if isinstance(event.get("created_at"), str):
            moved = _parse_iso(event["created_at"]) + timedelta(seconds=seconds)
            event["created_at"] = moved.strftime("%Y-%m-%dT%H:%M:%SZ")
        if str(event.get("id", "")).isdigit():
            event["id"] = str(int(event["id"]) + cycle * stride)
    return out


def _open_meteo_time(entry: dict[str, Any]) -> datetime:
    local = datetime.fromisoformat(entry["current"]["time"])
    return (local - timedelta(seconds=entry.get("utc_offset_seconds") or 0)).replace(tzinfo=UTC)


def _open_meteo_times(doc: Any) -> list[float]:
    return [
        _open_meteo_time(e).timestamp()
        for e in doc
        if isinstance(e, dict) and isinstance(e.get("current"), dict)
    ]


def _open_meteo_shift(doc: Any, seconds: int, _cycle: int) -> Any:
    out = copy.deepcopy(doc)
    for entry in out:
        if isinstance(entry, dict) and isinstance(entry.get("current"), dict):
            local = datetime.fromisoformat(entry["current"]["time"]) + timedelta(seconds=seconds)
            # The API's own format: minutes, no offset. Shifts are whole minutes, so nothing is lost.
            entry["current"]["time"] = local.strftime("%Y-%m-%dT%H:%M")
    return out


@dataclass(frozen=True)
class Recording:
    label: str
    docs: list[Any]
    times: Callable[[Any], list[float]]
    shift: Callable[[Any, int, int], Any]
    parse: Callable[[Any], Parsed]


class ReplaySource:
    def __init__(
        self,
        stream: StreamName,
        recording: Recording,
        start: datetime,
        max_ahead_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream = stream
        self.label = recording.label
        self._rec = recording
        self._max_ahead_s = max_ahead_s
        self._clock = clock
        refs = [max(recording.times(d)) for d in recording.docs]
        first = min(min(recording.times(d)) for d in recording.docs)
        last = max(refs)
        step = (refs[-1] - refs[0]) / (len(refs) - 1) if len(refs) > 1 else 60.0
        self._refs = refs
        # One cycle lasts as long as the recorded polls did (so at the recorded cadence replay keeps
        # pace with the wall clock), but at least the recorded time range, so cycles never overlap.
        # Whole minutes: Open-Meteo times have minute resolution.
        span = max(len(refs) * max(step, 1.0), last - first + 1.0)
        self._cycle_span = int(math.ceil(span / 60.0) * 60)
        # Anchor the newest observation of the first poll at the start minute: nothing replayed by the
        # first poll lies in the future.
        self._shift0 = int((start.timestamp() - refs[0]) // 60 * 60)
        self._cycle0 = self._shift0 // self._cycle_span
        self._k = 0

    @property
    def cycle_span_s(self) -> int:
        return self._cycle_span

    def _offset(self, k: int) -> tuple[int, int]:
        """(seconds to add, global cycle number) for the k-th poll of this run."""
        cycle = k // len(self._rec.docs)
        return self._shift0 + cycle * self._cycle_span, self._cycle0 + cycle

    def data_time(self, k: int) -> float:
        """Unix time of the newest observation in the k-th replayed poll."""
        return self._refs[k % len(self._rec.docs)] + self._offset(k)[0]

    def poll(self) -> PollResult:
        k = self._k
        self._k += 1
        seconds, cycle = self._offset(k)
        doc = self._rec.shift(self._rec.docs[k % len(self._rec.docs)], seconds, cycle)
        parsed = self._rec.parse(doc)
        wait = self.data_time(self._k) - self._max_ahead_s - self._clock()
        return PollResult(parsed, min_wait_s=max(0.0, wait))

    def close(self) -> None:
        """Nothing to release."""


def crypto_replay(
    coins: Sequence[str], start: datetime, max_ahead_s: float, clock: Callable[[], float] = time.time
) -> ReplaySource:
    """The recordings cover the default coins; keep the configured ones."""
    docs = load_fixtures(COINGECKO)
    recorded = {r.get("id") for d in docs for r in d if isinstance(r, dict)}
    missing = [c for c in coins if c not in recorded]
    if len(missing) == len(coins):
        raise ConfigError(
            f"CRYPTO_COINS: no recorded data for {', '.join(missing)}; replay covers "
            f"{', '.join(sorted(str(c) for c in recorded))} (use --source live or synthetic for others)"
        )
    if missing:
        log.warning("no recorded prices for these coins; replay skips them", extra={"coins": missing})
    wanted = set(coins)
    docs = [[r for r in d if isinstance(r, dict) and r.get("id") in wanted] for d in docs]
    rec = Recording(COINGECKO, docs, _coingecko_times, _coingecko_shift, parse_markets)
    return ReplaySource(StreamName.CRYPTO, rec, start, max_ahead_s, clock)


def github_replay(
    start: datetime, max_ahead_s: float, clock: Callable[[], float] = time.time
) -> ReplaySource:
    docs = load_fixtures(GITHUB)
    ids = _github_ids(docs)
    stride = max(ids) - min(ids) + 1
    rec = Recording(GITHUB, docs, _github_times, partial(_github_shift, stride=stride), parse_events)
    return ReplaySource(StreamName.GITHUB, rec, start, max_ahead_s, clock)


def weather_replay(
    cities: Sequence[City], start: datetime, max_ahead_s: float, clock: Callable[[], float] = time.time
) -> ReplaySource:
    """Open-Meteo recordings cover the catalogue (in catalogue order); pick the configured cities."""
    order = list(CATALOGUE)
    replayable = [c for c in cities if c.city_id in CATALOGUE and CATALOGUE[c.city_id] == c]
    skipped = [c.city_id for c in cities if c not in replayable]
    if not replayable:
        raise ConfigError(
            f"WEATHER_CITIES: no recorded data for {', '.join(skipped)}; replay covers the catalogue "
            "cities only (use --source live or synthetic for custom cities)"
        )
    if skipped:
        log.warning("no recorded weather for these cities; replay skips them", extra={"cities": skipped})
    docs = [[doc[order.index(c.city_id)] for c in replayable] for doc in load_fixtures(OPEN_METEO)]
    rec = Recording(
        OPEN_METEO, docs, _open_meteo_times, _open_meteo_shift, partial(parse_open_meteo, cities=replayable)
    )
    return ReplaySource(StreamName.WEATHER, rec, start, max_ahead_s, clock)
