"""Synthetic: a seeded generator of plausible messages, for load tests and offline development.

Output is a pure function of (seed, start time, tick, planned count). Simulated time advances one
tick per poll; natural keys stay unique because each tick is at least one second and every
venue/coin pair and city appears once per tick (GitHub ids are derived from the tick time). With a
planned `--count`, the simulated timeline ends at the start time instead of beginning there, so a
100k-message burst never carries timestamps from the future.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from services.contract import CryptoPrice, GithubEvent, StreamName, WeatherObservation
from services.producers.cities import City
from services.producers.sources.base import Parsed, PollResult
from services.producers.sources.weather import WMO_CONDITIONS
from services.producers.venues import COINGECKO, DEFAULT_VENUES, plan

LABEL = "synthetic"

# (symbol, name, price in USD, circulating supply) for the default coins; others are invented.
KNOWN_COINS: dict[str, tuple[str, str, float, float]] = {
    "bitcoin": ("btc", "Bitcoin", 91_000.0, 19.96e6),
    "ethereum": ("eth", "Ethereum", 3_050.0, 120.7e6),
    "tether": ("usdt", "Tether", 1.0, 184.3e9),
    "binancecoin": ("bnb", "BNB", 880.0, 137.7e6),
    "solana": ("sol", "Solana", 139.0, 559e6),
    "ripple": ("xrp", "XRP", 2.08, 60.4e9),
    "usd-coin": ("usdc", "USDC", 1.0, 76.2e9),
    "cardano": ("ada", "Cardano", 0.45, 36.5e9),
    "dogecoin": ("doge", "Dogecoin", 0.158, 151.6e9),
    "tron": ("trx", "TRON", 0.279, 94.7e9),
}
STABLECOINS = frozenset({"tether", "usd-coin", "dai", "true-usd", "first-digital-usd", "ethena-usde"})
MAJORS = frozenset({"bitcoin", "ethereum"})
"""The deepest books: spreads of a fraction of a basis point."""

# The public timeline is dominated by pushes (GH Archive statistics), then branch creation and PRs.
EVENT_MIX: dict[str, float] = {
    "PushEvent": 0.45,
    "CreateEvent": 0.12,
    "PullRequestEvent": 0.10,
    "WatchEvent": 0.08,
    "IssueCommentEvent": 0.07,
    "DeleteEvent": 0.04,
    "IssuesEvent": 0.04,
    "PullRequestReviewEvent": 0.03,
    "ForkEvent": 0.03,
    "PullRequestReviewCommentEvent": 0.02,
    "ReleaseEvent": 0.01,
    "GollumEvent": 0.005,
    "MemberEvent": 0.003,
    "PublicEvent": 0.002,
}
GITHUB_EVENTS_PER_TICK = 50
SYNTHETIC_ID_BASE = 10**15
"""Synthetic event ids live far above real GitHub ids (about 6e10), so they never collide,
and stay well inside a signed 64-bit integer."""


class _Crypto:
    """One random walk per coin (the market price); each venue quotes it with a small bias of its
    own, a little noise and a bid/ask spread of a few basis points, so cross-venue spreads look like
    the real ones. CoinGecko reports the market price itself, with market cap and volume."""

    def __init__(self, rng: random.Random, coins: Sequence[str], venues: Sequence[str]) -> None:
        self._rng = rng
        self._coins: dict[str, tuple[str, str, float]] = {}
        self._price: dict[str, float] = {}
        for coin in coins:
            if coin in KNOWN_COINS:
                symbol, name, price, supply = KNOWN_COINS[coin]
            else:
                symbol = coin.replace("-", "")[:6] or "x"
                name = coin.replace("-", " ").title()
                price, supply = 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(7, 11)
            self._coins[coin] = (symbol, name, supply)
            self._price[coin] = price
        self._open = dict(self._price)
        self._high = dict(self._price)
        self._low = dict(self._price)
        self._listings = plan(venues, coins)
        # Per venue and coin: a lasting premium/discount (bps) and the half spread of its book (bps).
        self._bias = {
            (lst.venue, c): rng.uniform(-3.0, 3.0) for lst in self._listings for c in lst.coin_ids()
        }
        self._half_spread = {
            (lst.venue, c): 0.5 if c in MAJORS | STABLECOINS else rng.uniform(1.0, 4.0)
            for lst in self._listings
            for c in lst.coin_ids()
        }

    @property
    def per_tick(self) -> int:
        return sum(len(lst.coins) for lst in self._listings)

    def _walk(self, coin: str, dt_s: float) -> float:
        if coin in STABLECOINS:
            # Mean-reverting around the peg.
            price = 1.0 + 0.6 * (self._price[coin] - 1.0) + self._rng.gauss(0, 0.0002)
        else:
            # Geometric random walk: about 60 % annualised volatility, always positive.
            sigma = 0.6 / math.sqrt(365 * 86_400)
            price = self._price[coin] * math.exp(sigma * math.sqrt(max(dt_s, 1.0)) * self._rng.gauss(0, 1))
        price = min(max(price, 1e-9), 1e11)
        self._price[coin] = price
        self._high[coin] = max(price, self._high[coin] * 0.9999 + price * 0.0001)
        self._low[coin] = min(price, self._low[coin] * 0.9999 + price * 0.0001)
        return price

    def batch(self, at: datetime, dt_s: float) -> list[BaseModel]:
        market = {coin: self._walk(coin, dt_s) for coin in self._coins}
        out: list[BaseModel] = []
        for listing in self._listings:
            for coin in listing.coin_ids():
                symbol, name, supply = self._coins[coin]
                price = market[coin]
                # Within the tick second, so int(seconds) in the natural key stays unique per tick.
                stamp = at + timedelta(milliseconds=self._rng.randint(0, 999))
                fields: dict[str, Any]
                if listing.venue == COINGECKO:
                    fields = {
                        "price": price,
                        "market_cap": price * supply,
                        "volume_24h": price * supply * self._rng.uniform(0.01, 0.08),
                        "high_24h": self._high[coin],
                        "low_24h": self._low[coin],
                        "change_pct_24h": max(-99.0, (price / self._open[coin] - 1) * 100),
                    }
                else:
                    key = (listing.venue, coin)
                    mid = price * math.exp((self._bias[key] + self._rng.gauss(0, 0.5)) / 1e4)
                    half = self._half_spread[key] / 1e4
                    bid, ask = mid * (1 - half), mid * (1 + half)
                    fields = {
                        "price": bid if self._rng.random() < 0.5 else ask,  # the last trade hit one side
                        "bid": bid,
                        "ask": ask,
                        "base_volume_24h": supply * self._rng.uniform(0.0005, 0.004),
                    }
                out.append(
                    CryptoPrice(
                        venue=listing.venue,
                        coin_id=coin,
                        symbol=symbol,
                        name=name,
                        source_updated_at=stamp,
                        **fields,
                    )
                )
        return out


class _Github:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        words = [
            "data",
            "cloud",
            "pixel",
            "rust",
            "lambda",
            "quantum",
            "neo",
            "byte",
            "zen",
            "ops",
            "kit",
            "lab",
        ]
        self._actors: list[tuple[int, str]] = [
            (49699333, "dependabot[bot]"),
            (41898282, "github-actions[bot]"),
            (29139614, "renovate[bot]"),
        ]
        for i in range(300):
            login = f"{rng.choice(words)}-{rng.choice(words)}{rng.randint(1, 9999)}"
            self._actors.append((1_000_000 + i * 7919, login))
        orgs = [(900_000 + i, f"{rng.choice(words)}-org{i}") for i in range(40)]
        self._repos: list[tuple[int, str, tuple[int, str] | None]] = []
        for i in range(500):
            if rng.random() < 0.3:
                org = rng.choice(orgs)
                self._repos.append((500_000_000 + i, f"{org[1]}/{rng.choice(words)}-{i}", org))
            else:
                owner = rng.choice(self._actors[3:])[1]
                self._repos.append(
                    (500_000_000 + i, f"{owner}/{rng.choice(words)}-{rng.choice(words)}", None)
                )
        # Zipf-like popularity: a few actors and repos produce most events, as on the real timeline.
        self._actor_w = [1 / (i + 1) ** 0.8 for i in range(len(self._actors))]
        self._repo_w = [1 / (i + 1) ** 0.9 for i in range(len(self._repos))]
        self._types = list(EVENT_MIX)
        self._type_w = list(EVENT_MIX.values())

    def batch(self, at: datetime, _dt_s: float) -> list[BaseModel]:
        rng = self._rng
        tick = int(at.timestamp())
        types = rng.choices(self._types, self._type_w, k=GITHUB_EVENTS_PER_TICK)
        actors = rng.choices(self._actors, self._actor_w, k=GITHUB_EVENTS_PER_TICK)
        repos = rng.choices(self._repos, self._repo_w, k=GITHUB_EVENTS_PER_TICK)
        out: list[BaseModel] = []
        for i, (etype, (actor_id, login), (repo_id, repo_name, org)) in enumerate(
            zip(types, actors, repos, strict=True)
        ):
            payload = self._payload(etype, repo_id, actor_id, login)
            action = payload.get("action")
            out.append(
                GithubEvent(
                    event_id=str(SYNTHETIC_ID_BASE + tick * 1000 + i),
                    event_type=etype,
                    actor_id=actor_id,
                    actor_login=login,
                    repo_id=repo_id,
                    repo_name=repo_name,
                    org_login=org[1] if org else None,
                    action=action if isinstance(action, str) else None,
                    created_at=at + timedelta(milliseconds=i * (1000 // GITHUB_EVENTS_PER_TICK)),
                    payload=payload,
                )
            )
        return out

    def _payload(self, etype: str, repo_id: int, actor_id: int, login: str) -> dict[str, Any]:
        rng = self._rng
        number = rng.randint(1, 5000)
        user = {"login": login, "id": actor_id}
        sha = f"{rng.getrandbits(160):040x}"
        if etype == "PushEvent":
            ref = "refs/heads/main" if rng.random() < 0.7 else f"refs/heads/feature-{rng.randint(1, 99)}"
            before = f"{rng.getrandbits(160):040x}"
            return {
                "repository_id": repo_id,
                "push_id": rng.randint(1, 10**11),
                "ref": ref,
                "head": sha,
                "before": before,
            }
        if etype in ("CreateEvent", "DeleteEvent"):
            kind = rng.choice(["branch", "branch", "tag"])
            ref = (
                f"v1.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
                if kind == "tag"
                else f"feature-{rng.randint(1, 99)}"
            )
            return {"ref": ref, "ref_type": kind, "pusher_type": "user"}
        if etype == "WatchEvent":
            return {"action": "started"}
        if etype == "ForkEvent":
            return {"action": "forked", "forkee": {"id": rng.randint(1, 10**9), "owner": user}}
        if etype == "PullRequestEvent":
            pr = {
                "id": rng.randint(1, 10**10),
                "number": number,
                "head": {"ref": "feature", "sha": sha},
                "base": {"ref": "main"},
            }
            return {
                "action": rng.choice(["opened", "closed", "synchronize", "reopened"]),
                "number": number,
                "pull_request": pr,
            }
        if etype in ("IssuesEvent", "IssueCommentEvent"):
            issue = {"id": rng.randint(1, 10**10), "number": number, "title": f"Issue {number}", "user": user}
            if etype == "IssuesEvent":
                return {"action": rng.choice(["opened", "closed"]), "issue": issue}
            return {
                "action": "created",
                "issue": issue,
                "comment": {"id": rng.randint(1, 10**10), "body": "LGTM", "user": user},
            }
        if etype in ("PullRequestReviewEvent", "PullRequestReviewCommentEvent"):
            pr = {"id": rng.randint(1, 10**10), "number": number}
            key = "review" if etype == "PullRequestReviewEvent" else "comment"
            return {
                "action": "created",
                key: {"id": rng.randint(1, 10**10), "user": user},
                "pull_request": pr,
            }
        if etype == "ReleaseEvent":
            tag = f"v{rng.randint(0, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            return {"action": "published", "release": {"id": rng.randint(1, 10**9), "tag_name": tag}}
        if etype == "GollumEvent":
            return {"pages": [{"page_name": "Home", "action": "edited", "sha": sha}]}
        if etype == "MemberEvent":
            return {"action": "added", "member": user}
        return {}


class _Weather:
    def __init__(self, rng: random.Random, cities: Sequence[City]) -> None:
        self._rng = rng
        self._cities = list(cities)
        # Slowly varying anomalies (AR(1)) per city so consecutive observations are correlated.
        self._temp_anom = {c.city_id: rng.gauss(0, 2) for c in cities}
        self._pressure = {c.city_id: rng.gauss(1013, 6) for c in cities}
        self._wind = {c.city_id: rng.uniform(1, 8) for c in cities}

    def batch(self, at: datetime, _dt_s: float) -> list[BaseModel]:
        rng = self._rng
        out: list[BaseModel] = []
        day_of_year = at.timetuple().tm_yday
        for city in self._cities:
            cid = city.city_id
            lat = city.latitude
            # Climate: warm tropics, cold poles; seasons flip hemispheres; warmest at 15:00 solar time.
            mean = 28 - 0.5 * abs(lat)
            season = (
                0.3 * abs(lat) * math.cos(2 * math.pi * (day_of_year - 200) / 365) * (1 if lat >= 0 else -1)
            )
            solar_hour = (at.hour + at.minute / 60 + city.longitude / 15) % 24
            diurnal = (3 + 0.05 * abs(lat)) * math.cos(2 * math.pi * (solar_hour - 15) / 24)
            self._temp_anom[cid] = 0.98 * self._temp_anom[cid] + rng.gauss(0, 0.3)
            temp = min(55.0, max(-85.0, mean + season + diurnal + self._temp_anom[cid]))
            self._pressure[cid] = min(
                1060.0, max(960.0, 0.99 * self._pressure[cid] + 0.01 * 1013 + rng.gauss(0, 0.5))
            )
            self._wind[cid] = min(40.0, max(0.0, 0.9 * self._wind[cid] + 0.1 * 4 + rng.gauss(0, 0.8)))
            humidity = min(100.0, max(5.0, 70 - 2.0 * diurnal + rng.gauss(0, 5)))
            raining = humidity > 85 and rng.random() < 0.5
            rain = round(rng.uniform(0.1, 3.0), 2) if raining else 0.0
            code = (61 if temp > 0 else 71) if raining else rng.choice([0, 1, 2, 3])
            wind = self._wind[cid]
            apparent = temp - 0.7 * wind if temp < 10 else temp + 0.1 * (humidity - 50) / 5
            out.append(
                WeatherObservation(
                    city_id=cid,
                    city_name=city.name,
                    country=city.country,
                    latitude=lat,
                    longitude=city.longitude,
                    observed_at=at,
                    temperature_c=round(temp, 2),
                    apparent_temperature_c=round(min(75.0, max(-105.0, apparent)), 2),
                    humidity_pct=round(humidity, 1),
                    pressure_hpa=round(self._pressure[cid], 1),
                    wind_speed_ms=round(wind, 2),
                    rain_mm=rain,
                    weather_code=code,
                    condition=WMO_CONDITIONS.get(code),
                )
            )
        return out


class SyntheticSource:
    label = LABEL

    def __init__(
        self,
        stream: StreamName,
        seed: int,
        start: datetime,
        *,
        coins: Sequence[str] = (),
        venues: Sequence[str] = DEFAULT_VENUES,
        cities: Sequence[City] = (),
        tick_s: float = 1.0,
        planned_count: int | None = None,
        max_ahead_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream = stream
        rng = random.Random(seed)
        self._gen: _Crypto | _Github | _Weather
        if stream is StreamName.CRYPTO:
            self._gen = _Crypto(rng, coins, venues)
            per_tick = self._gen.per_tick
        elif stream is StreamName.GITHUB:
            self._gen = _Github(rng)
            per_tick = GITHUB_EVENTS_PER_TICK
        else:
            self._gen = _Weather(rng, cities)
            per_tick = len(cities)
        # Whole seconds: keys have second resolution, so a sub-second tick would repeat keys.
        self._tick_s = max(1, math.ceil(tick_s))
        start_s = int(start.timestamp())
        if planned_count is not None:
            ticks = math.ceil(planned_count / max(per_tick, 1))
            start_s -= ticks * self._tick_s
        self._t0 = start_s
        self._k = 0
        self._max_ahead_s = max_ahead_s
        self._clock = clock

    def poll(self) -> PollResult:
        at = datetime.fromtimestamp(self._t0 + self._k * self._tick_s, UTC)
        self._k += 1
        records = self._gen.batch(at, self._tick_s)
        wait = self._t0 + self._k * self._tick_s - self._max_ahead_s - self._clock()
        return PollResult(Parsed(records=records), min_wait_s=max(0.0, wait))

    def close(self) -> None:
        """Nothing to release."""
