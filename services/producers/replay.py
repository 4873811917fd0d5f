"""Replay: bundled recordings of real API responses, looped forever, parsed by the live parsers.

A recording is P consecutive poll responses (`fixtures/<api>-<n>.json`). The replay timeline is the
recorded one shifted so the first replayed poll's newest observation falls in the minute of the
start time; each later cycle moves forward by the recording's span plus one poll step, so natural
keys stay fresh and the output is a pure function of the start time. GitHub event ids move forward by
the id range of the recording per cycle (counted from the recording, not from this run), so a
restart later on does not replay ids an earlier run already sent.

Crypto has one recording per venue, recorded at the same moments; they share one timeline (the same
shift and cycle length), so the venues' prices stay side by side in time as they were recorded.
Coinbase and Gemini answer one pair per request: their recordings hold `{pair: body as received}`
per poll. Kraken's answer has no time at all: `kraken-ticker.polled-at.json` holds the times the
recorded polls were received, and the replay stamps each poll with its (shifted) time.

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
from services.producers.sources import bitstamp, coinbase, gemini, kraken
from services.producers.sources.base import Parsed, PollResult, get_path
from services.producers.sources.coingecko import parse_markets
from services.producers.sources.exchange import parse_recorded, truncate_to_micros
from services.producers.sources.github import LABEL as GITHUB
from services.producers.sources.github import parse_events
from services.producers.sources.weather import OPEN_METEO, parse_open_meteo
from services.producers.venues import BITSTAMP, COINBASE, COINGECKO, GEMINI, KRAKEN, Listing, plan

log = logging.getLogger(__name__)

FIXTURE_FILES: dict[str, str] = {
    COINGECKO: "coingecko-markets",
    COINBASE: "coinbase-ticker",
    KRAKEN: "kraken-ticker",
    BITSTAMP: "bitstamp-ticker",
    GEMINI: "gemini-pubticker",
    GITHUB: "github-events",
    OPEN_METEO: "open-meteo-forecast",
}
KRAKEN_POLL_TIMES = "kraken-ticker.polled-at.json"


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


def _fixture(name: str) -> Any:
    folder = resources.files("services.producers") / "fixtures"
    return json.loads((folder / name).read_text(encoding="utf-8"))


def openweathermap_fixture() -> list[Any]:
    """Recorded `/data/2.5/weather` answers, one per catalogue city (used by tests and docs)."""
    doc: list[Any] = _fixture("openweathermap-weather.json")
    return doc


def kraken_poll_times() -> list[str]:
    """When each recorded Kraken poll was received (RFC 3339), in poll order."""
    times: list[str] = _fixture(KRAKEN_POLL_TIMES)
    return times


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


def _shift_rfc3339(value: str, seconds: int) -> str:
    """Move a UTC RFC 3339 time (`...Z`) by whole seconds, keeping its fraction digits as written:
    Coinbase's nanoseconds survive the replay, so the parser's truncation is exercised too."""
    whole, dot, fraction = value.removesuffix("Z").partition(".")
    moved = datetime.fromisoformat(whole).replace(tzinfo=UTC) + timedelta(seconds=seconds)
    return moved.strftime("%Y-%m-%dT%H:%M:%S") + dot + fraction + "Z"


def _coinbase_times(doc: Any) -> list[float]:
    return [
        _parse_iso(truncate_to_micros(body["time"])).timestamp()
        for body in doc.values()
        if isinstance(body, dict) and isinstance(body.get("time"), str)
    ]


def _coinbase_shift(doc: Any, seconds: int, _cycle: int) -> Any:
    out = copy.deepcopy(doc)
    for body in out.values():
        if isinstance(body, dict) and isinstance(body.get("time"), str):
            body["time"] = _shift_rfc3339(body["time"], seconds)
    return out


def _gemini_times(doc: Any) -> list[float]:
    stamps = [get_path(body, "volume", "timestamp") for body in doc.values()]
    return [s / 1000 for s in stamps if isinstance(s, int)]


def _gemini_shift(doc: Any, seconds: int, _cycle: int) -> Any:
    out = copy.deepcopy(doc)
    for body in out.values():
        volume = body.get("volume") if isinstance(body, dict) else None
        if isinstance(volume, dict) and isinstance(volume.get("timestamp"), int):
            volume["timestamp"] += seconds * 1000
    return out


def _bitstamp_times(doc: Any) -> list[float]:
    return [
        float(r["timestamp"]) for r in doc if isinstance(r, dict) and str(r.get("timestamp", "")).isdigit()
    ]


def _bitstamp_shift(doc: Any, seconds: int, _cycle: int) -> Any:
    out = copy.deepcopy(doc)
    for rec in out:
        if isinstance(rec, dict) and str(rec.get("timestamp", "")).isdigit():
            rec["timestamp"] = str(int(rec["timestamp"]) + seconds)
    return out


def _kraken_times(doc: Any) -> list[float]:
    return [_parse_iso(doc["polled_at"]).timestamp()]


def _kraken_shift(doc: Any, seconds: int, _cycle: int) -> Any:
    return {
        "polled_at": _iso_z(_parse_iso(doc["polled_at"]) + timedelta(seconds=seconds)),
        "body": doc["body"],
    }


def _kraken_parse(doc: Any, listing: Listing) -> Parsed:
    """Kraken answers only the pairs asked for: keep those of the recording (asked for all)."""
    asked = {c.pair for c in listing.coins} | {kraken.CANONICAL.get(c.pair, c.pair) for c in listing.coins}
    body = doc["body"]
    if isinstance(body.get("result"), dict):
        body = {**body, "result": {k: v for k, v in body["result"].items() if k in asked}}
    return kraken.parse_ticker(body, listing, _parse_iso(doc["polled_at"]))


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

    def newest(self) -> list[float]:
        """Unix time of the newest observation of each recorded poll."""
        return [max(self.times(d)) for d in self.docs]

    def cycle_span_s(self) -> int:
        """One cycle lasts as long as the recorded polls did (so at the recorded cadence replay keeps
        pace with the wall clock), but at least the recorded time range, so cycles never overlap.
        Whole minutes: Open-Meteo times have minute resolution. The cadence is rounded (polls a
        minute apart give a three-minute cycle even when the server answered 30 ms late once)."""
        refs = self.newest()
        first = min(min(self.times(d)) for d in self.docs)
        step = (refs[-1] - refs[0]) / (len(refs) - 1) if len(refs) > 1 else 60.0
        cadence = round(len(refs) * max(step, 1.0) / 60.0)
        return 60 * max(cadence, math.ceil((max(refs) - first + 1.0) / 60.0))


class ReplaySource:
    def __init__(
        self,
        stream: StreamName,
        recording: Recording,
        start: datetime,
        max_ahead_s: float,
        clock: Callable[[], float] = time.time,
        *,
        anchor: float | None = None,
        cycle_span_s: int | None = None,
    ) -> None:
        """`anchor` (default: the newest observation of the first recorded poll) is the recorded
        time placed in the start minute; recordings replayed side by side pass the same anchor and
        cycle span so that they keep their recorded alignment."""
        self.stream = stream
        self.label = recording.label
        self._rec = recording
        self._max_ahead_s = max_ahead_s
        self._clock = clock
        self._refs = recording.newest()
        self._cycle_span = cycle_span_s or recording.cycle_span_s()
        # Anchor the newest observation of the first poll at the start minute: nothing replayed by the
        # first poll lies in the future.
        reference = self._refs[0] if anchor is None else anchor
        self._shift0 = int((start.timestamp() - reference) // 60 * 60)
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


def _venue_recording(listing: Listing) -> tuple[Recording, list[str]]:
    """A venue's recording restricted to the listing's coins, and the listed coins it lacks."""
    venue, docs = listing.venue, load_fixtures(listing.venue)
    if venue == COINGECKO:
        wanted = set(listing.coin_ids())
        recorded = {r.get("id") for d in docs for r in d if isinstance(r, dict)}
        docs = [[r for r in d if isinstance(r, dict) and r.get("id") in wanted] for d in docs]
        rec = Recording(venue, docs, _coingecko_times, _coingecko_shift, parse_markets)
        return rec, [c for c in listing.coin_ids() if c not in recorded]
    if venue == KRAKEN:
        docs = [{"polled_at": t, "body": d} for t, d in zip(kraken_poll_times(), docs, strict=True)]
        keys = {k for d in docs for k in d["body"].get("result", {})}
        missing = [c.coin_id for c in listing.coins if kraken.CANONICAL.get(c.pair, c.pair) not in keys]
        return Recording(
            venue, docs, _kraken_times, _kraken_shift, partial(_kraken_parse, listing=listing)
        ), missing
    if venue == BITSTAMP:
        pairs = {r.get("pair") for d in docs for r in d if isinstance(r, dict)}
        missing = [c.coin_id for c in listing.coins if c.pair not in pairs]
        parse = partial(bitstamp.parse_tickers, listing=listing)
        return Recording(venue, docs, _bitstamp_times, _bitstamp_shift, parse), missing
    # One pair per request: {pair: body} per poll.
    one = coinbase.parse_ticker if venue == COINBASE else gemini.parse_ticker
    times, shift = (_coinbase_times, _coinbase_shift) if venue == COINBASE else (_gemini_times, _gemini_shift)
    missing = [c.coin_id for c in listing.coins if not any(c.pair in d for d in docs)]
    docs = [{p: body for p, body in d.items() if p in listing.by_pair()} for d in docs]
    parse = partial(parse_recorded, listing=listing, parse_one=one)
    return Recording(venue, docs, times, shift, parse), missing


def crypto_replays(
    coins: Sequence[str],
    venues: Sequence[str],
    start: datetime,
    max_ahead_s: float,
    clock: Callable[[], float] = time.time,
) -> list[ReplaySource]:
    """One replay per configured venue, on one timeline. The recordings cover the default coins on
    every venue that lists them; other coins are skipped (and said so once)."""
    recordings = []
    for listing in plan(venues, coins):
        rec, missing = _venue_recording(listing)
        if missing:
            log.warning(
                "no recorded prices for these coins; replay skips them",
                extra={"venue": listing.venue, "coins": missing},
            )
        if len(missing) < len(listing.coins):
            recordings.append(rec)
    if not recordings:
        raise ConfigError(
            f"CRYPTO_COINS: no recorded data for {', '.join(coins)} on {', '.join(venues)}; replay covers "
            "the default coins (use --source live or synthetic for others)"
        )
    # The first polls' newest observation is placed in the start minute (none in the future), and
    # every venue moves by the same cycle, so recorded neighbours stay neighbours.
    anchor = max(r.newest()[0] for r in recordings)
    span = max(r.cycle_span_s() for r in recordings)
    return [
        ReplaySource(StreamName.CRYPTO, r, start, max_ahead_s, clock, anchor=anchor, cycle_span_s=span)
        for r in recordings
    ]


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
