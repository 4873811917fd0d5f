"""Replay and synthetic sources in-process: determinism, fresh natural keys, pacing."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from services.config import ConfigError
from services.contract import STREAMS, GithubEvent, StreamName
from services.producers.cities import CATALOGUE, DEFAULT_CITIES, City, parse_cities
from services.producers.replay import ReplaySource, crypto_replays, github_replay, weather_replay
from services.producers.settings import DEFAULT_COINS
from services.producers.synthetic import SyntheticSource
from services.producers.venues import DEFAULT_VENUES, KRAKEN, listing

START = datetime(2026, 11, 26, 8, 30, 17, tzinfo=UTC)
COINS = tuple(DEFAULT_COINS.split(","))
CITIES = parse_cities(DEFAULT_CITIES)


def _run(source: ReplaySource | SyntheticSource, polls: int) -> list[list[BaseModel]]:
    return [source.poll().parsed.records for _ in range(polls)]


def _keys(stream: StreamName, batches: list[list[BaseModel]]) -> list[str]:
    return [STREAMS[stream].key_of(p) for batch in batches for p in batch]


def _observed(stream: StreamName, batch: list[BaseModel]) -> list[datetime]:
    return [STREAMS[stream].observed_at_of(p) for p in batch]


def _venue_replay(venue: str) -> Any:
    return lambda start: crypto_replays(COINS, (venue,), start, 900)[0]


REPLAYS: list[tuple[StreamName, Any]] = [
    *((StreamName.CRYPTO, _venue_replay(venue)) for venue in DEFAULT_VENUES),
    (StreamName.GITHUB, lambda start: github_replay(start, 900)),
    (StreamName.WEATHER, lambda start: weather_replay(CITIES, start, 900)),
]
REPLAY_IDS = [*(f"crypto-{v}" for v in DEFAULT_VENUES), "github", "weather"]


@pytest.mark.parametrize(("stream", "make"), REPLAYS, ids=REPLAY_IDS)
def test_replay_starts_now_loops_forward_with_fresh_keys(stream: StreamName, make: Any) -> None:
    source = make(START)
    batches = _run(source, 3 * 3)  # three loops over the three recorded polls
    keys = _keys(stream, batches)
    assert len(keys) == len(set(keys)), "a replay cycle repeated a natural key"
    first = _observed(stream, batches[0])
    assert START - timedelta(minutes=2) <= max(first) <= START  # the first poll is "now", not the future
    newest = [max(_observed(stream, b)) for b in batches]
    assert newest == sorted(newest)
    assert newest[-1] > newest[0]


@pytest.mark.parametrize(("stream", "make"), REPLAYS, ids=REPLAY_IDS)
def test_replay_is_deterministic_given_the_start_time(stream: StreamName, make: Any) -> None:
    one = [[p.model_dump() for p in b] for b in _run(make(START), 7)]
    two = [[p.model_dump() for p in b] for b in _run(make(START), 7)]
    assert one == two
    later = _keys(stream, _run(make(START + timedelta(hours=6)), 3))
    assert set(later).isdisjoint(_keys(stream, _run(make(START), 3)))


def test_github_replay_cycles_get_new_ids_in_order() -> None:
    source = github_replay(START, 900)
    cycle1 = [e for b in _run(source, 3) for e in b if isinstance(e, GithubEvent)]
    cycle2 = [e for b in _run(source, 3) for e in b if isinstance(e, GithubEvent)]
    assert len(cycle1) == len(cycle2)
    assert max(int(e.event_id) for e in cycle1) < min(int(e.event_id) for e in cycle2)
    # Same recorded events, moved on: types and payloads repeat, ids and times do not.
    assert [e.event_type for e in cycle1] == [e.event_type for e in cycle2]
    assert [e.payload for e in cycle1] == [e.payload for e in cycle2]


def test_replay_never_runs_further_ahead_than_allowed() -> None:
    clock = START.timestamp()
    source = weather_replay(CITIES, START, 900, clock=lambda: clock)
    waits = [source.poll().min_wait_s for _ in range(4)]
    # Recorded every 15 min: the second poll may go now (900 s ahead), the third only later.
    assert waits[0] == 0.0
    assert 800 < waits[1] <= 900
    assert all(w > 0 for w in waits[1:])


def test_weather_replay_follows_the_configured_cities() -> None:
    custom = City("atlantis", "Atlantis", "XX", 0.0, 0.0)
    cities = (CATALOGUE["zurich"], custom, CATALOGUE["sao-paulo"])
    [batch] = _run(weather_replay(cities, START, 900), 1)
    assert [p.city_id for p in batch] == ["zurich", "sao-paulo"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="WEATHER_CITIES"):
        weather_replay((custom,), START, 900)


def test_crypto_replay_follows_the_configured_coins_and_venues() -> None:
    sources = crypto_replays(
        ("ethereum", "bitcoin", "tron", "not-recorded"), ("coingecko", "kraken", "gemini"), START, 900
    )
    batches = {s.label: s.poll().parsed.records for s in sources}
    coins = {venue: sorted(p.coin_id for p in batch) for venue, batch in batches.items()}  # type: ignore[attr-defined]
    # CoinGecko covers any id but has no recording of the unknown one; Gemini does not list TRON.
    assert coins == {
        "coingecko": ["bitcoin", "ethereum", "tron"],
        "kraken": ["bitcoin", "ethereum", "tron"],
        "gemini": ["bitcoin", "ethereum"],
    }
    assert all(p.venue == venue for venue, batch in batches.items() for p in batch)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="CRYPTO_COINS"):
        crypto_replays(("not-recorded",), DEFAULT_VENUES, START, 900)
    with pytest.raises(ConfigError, match="CRYPTO_VENUES"):
        crypto_replays(("tron",), ("coinbase", "gemini"), START, 900)  # neither lists TRON


def test_crypto_replay_venues_share_one_timeline() -> None:
    """Five recordings replayed side by side stay side by side: in every poll round each coin's
    prices from all venues lie within a minute and a few basis points of each other."""
    sources = crypto_replays(COINS, DEFAULT_VENUES, START, 900)
    assert [s.label for s in sources] == list(DEFAULT_VENUES)
    assert len({s.cycle_span_s for s in sources}) == 1
    for _ in range(7):  # across a cycle boundary
        round_ = [p for s in sources for p in s.poll().parsed.records]
        assert all(p.source_updated_at <= START + timedelta(minutes=15) for p in round_)  # type: ignore[attr-defined]
        by_coin: dict[str, list[Any]] = {}
        for p in round_:
            by_coin.setdefault(p.coin_id, []).append(p)  # type: ignore[attr-defined]
        for coin, prices in by_coin.items():
            times = [p.source_updated_at for p in prices]
            assert max(times) - min(times) < timedelta(seconds=60), coin
            values = [p.price for p in prices]
            assert max(values) / min(values) - 1 < 20e-4, coin
    first = [p for s in crypto_replays(COINS, DEFAULT_VENUES, START, 900) for p in s.poll().parsed.records]
    assert max(p.source_updated_at for p in first) <= START  # type: ignore[attr-defined]


def test_kraken_replay_stamps_each_poll_at_its_recorded_time() -> None:
    [source] = crypto_replays(COINS, (KRAKEN,), START, 900)
    stamps = [{p.source_updated_at for p in source.poll().parsed.records} for _ in range(4)]  # type: ignore[attr-defined]
    assert all(len(s) == 1 for s in stamps), "one poll, one receipt time"
    times = [next(iter(s)) for s in stamps]
    assert [round((b - a).total_seconds()) for a, b in itertools.pairwise(times)] == [
        60,
        60,
        60,
    ]  # the next cycle keeps the recorded cadence
    assert times[0].microsecond == 432_000  # the recorded receipt time's milliseconds, moved by whole minutes


# --- synthetic ------------------------------------------------------------------------------------------

SYNTHETIC: list[tuple[StreamName, dict[str, Any]]] = [
    (StreamName.CRYPTO, {"coins": COINS}),
    (StreamName.GITHUB, {}),
    (StreamName.WEATHER, {"cities": CITIES}),
]


@pytest.mark.parametrize(("stream", "kwargs"), SYNTHETIC, ids=[s for s, _ in SYNTHETIC])
def test_synthetic_same_seed_same_output(stream: StreamName, kwargs: dict[str, Any]) -> None:
    def dump(seed: int) -> list[dict[str, Any]]:
        source = SyntheticSource(stream, seed, START, **kwargs)
        return [p.model_dump() for b in _run(source, 20) for p in b]

    assert dump(7) == dump(7)
    assert dump(7) != dump(8)


@pytest.mark.parametrize(("stream", "kwargs"), SYNTHETIC, ids=[s for s, _ in SYNTHETIC])
def test_synthetic_burst_has_unique_keys_and_no_future_timestamps(
    stream: StreamName, kwargs: dict[str, Any]
) -> None:
    planned = 10_000
    source = SyntheticSource(stream, 1, START, planned_count=planned, **kwargs)
    batches: list[list[BaseModel]] = []
    while sum(map(len, batches)) < planned:
        batches.append(source.poll().parsed.records)
    keys = _keys(stream, batches)
    assert len(keys) == len(set(keys))
    observed = [t for b in batches for t in _observed(stream, b)]
    assert max(observed) <= START
    assert max(observed) - min(observed) < timedelta(hours=3)


def test_synthetic_crypto_prices_random_walk_and_stay_positive() -> None:
    source = SyntheticSource(StreamName.CRYPTO, 5, START, coins=COINS, venues=("coingecko",))
    btc = [p.price for b in _run(source, 2000) for p in b if p.coin_id == "bitcoin"]  # type: ignore[attr-defined]
    assert len(btc) == 2000
    assert all(p > 0 for p in btc)
    assert len(set(btc)) > 1900  # it moves
    assert 0.8 < btc[-1] / btc[0] < 1.25  # but like a price over half an hour, not noise


def test_synthetic_venues_quote_the_same_market_with_small_spreads() -> None:
    """One random walk per coin, quoted by every venue that lists the coin: each tick, the same coins
    per venue, exchange prices within a few basis points of CoinGecko's aggregate and of each other,
    and bid < ask with a spread of a few basis points around the last trade."""
    source = SyntheticSource(StreamName.CRYPTO, 11, START, coins=COINS, tick_s=60)
    expected = {venue: sorted(listing(venue, COINS)[0].coin_ids()) for venue in DEFAULT_VENUES}
    for batch in _run(source, 120):  # two hours of minutes
        prices: list[Any] = batch
        per_venue: dict[str, list[str]] = {}
        for p in prices:
            per_venue.setdefault(p.venue, []).append(p.coin_id)
        assert {v: sorted(c) for v, c in per_venue.items()} == expected
        aggregate = {p.coin_id: p.price for p in prices if p.venue == "coingecko"}
        for coin in aggregate:
            quotes = [p for p in prices if p.coin_id == coin and p.venue != "coingecko"]
            for q in quotes:
                assert abs(q.price / aggregate[coin] - 1) < 10e-4, (q.venue, coin)
                assert q.bid < q.ask
                assert (q.ask - q.bid) / q.bid < 10e-4, (q.venue, coin)
                assert q.bid <= q.price <= q.ask
                assert q.market_cap is None
                assert q.base_volume_24h is not None
            if len(quotes) > 1:
                spread = max(q.price for q in quotes) / min(q.price for q in quotes) - 1
                assert 0 < spread < 15e-4, coin
        assert all(p.bid is None and p.market_cap for p in prices if p.venue == "coingecko")


def test_synthetic_github_has_a_realistic_mix_with_repeat_actors() -> None:
    source = SyntheticSource(StreamName.GITHUB, 5, START)
    events = [e for b in _run(source, 40) for e in b if isinstance(e, GithubEvent)]
    types = Counter(e.event_type for e in events)
    assert types.most_common(1)[0][0] == "PushEvent"
    assert len(types) >= 8
    actors = Counter(e.actor_login for e in events)
    assert actors.most_common(1)[0][1] > 10  # a few busy actors (and bots)
    assert any(e.org_login for e in events)
    assert any(e.org_login is None for e in events)
    pushes = [e for e in events if e.event_type == "PushEvent"]
    assert all("commits" not in e.payload and "head" in e.payload for e in pushes)  # the 2025 shape


def test_synthetic_weather_is_diurnal_and_physical() -> None:
    zurich = (CATALOGUE["zurich"],)
    source = SyntheticSource(StreamName.WEATHER, 5, START, cities=zurich, tick_s=3600)
    temps = [(p.observed_at.hour, p.temperature_c) for b in _run(source, 48) for p in b]  # type: ignore[attr-defined]
    afternoon = [t for h, t in temps if 13 <= h <= 15]
    night = [t for h, t in temps if 2 <= h <= 4]
    assert sum(afternoon) / len(afternoon) > sum(night) / len(night) + 2
