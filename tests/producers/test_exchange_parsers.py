"""Exchange parsers against the real response shapes (shared/reference/api-shapes.md) and the bundled
recordings: strings everywhere, Kraken's errors inside a 200 and renamed pairs, Gemini's milliseconds,
Coinbase's nanoseconds, and one bad record among good ones."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from services.contract import CryptoPrice
from services.producers.http import PayloadError
from services.producers.replay import kraken_poll_times, load_fixtures
from services.producers.settings import DEFAULT_COINS
from services.producers.sources import bitstamp, coinbase, gemini, kraken
from services.producers.sources.base import Parsed
from services.producers.sources.coingecko import parse_markets
from services.producers.sources.exchange import parse_recorded
from services.producers.venues import BITSTAMP, COINBASE, GEMINI, KRAKEN, Listed, Listing, listing

COINS = tuple(DEFAULT_COINS.split(","))


def _listing(venue: str, coins: tuple[str, ...] = COINS) -> Listing:
    return listing(venue, coins)[0]


def _listed(venue: str, coin: str) -> Listed:
    [found] = _listing(venue, (coin,)).coins
    return found


def _prices(parsed: Parsed) -> list[CryptoPrice]:
    assert all(isinstance(p, CryptoPrice) for p in parsed.records)
    return parsed.records  # type: ignore[return-value]


# --- Coinbase -------------------------------------------------------------------------------------------

COINBASE_BTC = {
    "ask": "63212.98",
    "bid": "63212.97",
    "volume": "4916.94797396",
    "trade_id": 1040406588,
    "price": "63212.97",
    "size": "0.00782662",
    "time": "2026-06-19T16:43:33.016274911Z",
    "rfq_volume": "31.625279",
}


def test_coinbase_reference_ticker_maps_every_field() -> None:
    parsed = coinbase.parse_ticker(COINBASE_BTC, _listed(COINBASE, "bitcoin"))
    assert parsed.rejections == []
    [price] = _prices(parsed)
    assert price.model_dump() == {
        "venue": "coinbase",
        "coin_id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
        "vs_currency": "usd",
        "price": 63212.97,
        "bid": 63212.97,
        "ask": 63212.98,
        "market_cap": None,
        "volume_24h": None,
        "base_volume_24h": 4916.94797396,
        "high_24h": None,
        "low_24h": None,
        "change_pct_24h": None,
        # nanoseconds truncated (not rounded) to the microseconds the contract keeps
        "source_updated_at": datetime(2026, 6, 19, 16, 43, 33, 16274, tzinfo=UTC),
    }


def test_coinbase_padded_strings_are_read_and_bad_numbers_rejected() -> None:
    padded = {**COINBASE_BTC, "price": " 63212.97 ", "bid": "63212.97\n"}
    [price] = _prices(coinbase.parse_ticker(padded, _listed(COINBASE, "bitcoin")))
    assert (price.price, price.bid) == (63212.97, 63212.97)
    for bad in ("abc", "NaN", "", "-1", None):
        parsed = coinbase.parse_ticker({**COINBASE_BTC, "price": bad}, _listed(COINBASE, "bitcoin"))
        assert parsed.records == []
        [rejection] = parsed.rejections
        assert (rejection.reason, rejection.record_id) == ("invalid", "bitcoin (BTC-USD)")
        assert rejection.detail.startswith("price:"), rejection.detail


@pytest.mark.parametrize("body", [{"message": "NotFound"}, [COINBASE_BTC], "NotFound", None])
def test_coinbase_error_and_non_object_bodies_are_payload_errors(body: Any) -> None:
    with pytest.raises(PayloadError):
        coinbase.parse_ticker(body, _listed(COINBASE, "bitcoin"))


def test_coinbase_bad_time_is_rejected_with_its_value() -> None:
    parsed = coinbase.parse_ticker({**COINBASE_BTC, "time": "yesterday"}, _listed(COINBASE, "bitcoin"))
    [rejection] = parsed.rejections
    assert "source_updated_at" in rejection.detail
    assert "yesterday" in rejection.detail


# --- Kraken ---------------------------------------------------------------------------------------------

KRAKEN_BTC = {
    "a": ["64547.20000", "4", "4.000"],
    "b": ["64547.10000", "15", "15.000"],
    "c": ["64547.20000", "0.00013362"],
    "v": ["5869.92462186", "6253.84063618"],
    "p": ["64487.50403", "64670.01016"],
    "t": [56856, 62595],
    "l": ["62356.50000", "62356.50000"],
    "h": ["68075.00000", "68075.00000"],
    "o": "67600.00000",
}
RECEIVED = datetime(2026, 6, 19, 16, 43, 34, 250000, tzinfo=UTC)


def test_kraken_reference_ticker_under_its_canonical_name() -> None:
    parsed = kraken.parse_ticker(
        {"error": [], "result": {"XXBTZUSD": KRAKEN_BTC}}, _listing(KRAKEN, ("bitcoin",)), RECEIVED
    )
    assert parsed.rejections == []
    [price] = _prices(parsed)
    assert price.model_dump() == {
        "venue": "kraken",
        "coin_id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
        "vs_currency": "usd",
        "price": 64547.2,  # `c`: the last trade
        "bid": 64547.1,
        "ask": 64547.2,
        "market_cap": None,
        "volume_24h": None,
        "base_volume_24h": 6253.84063618,  # `v[1]`: the last 24 hours, not today
        "high_24h": 68075.0,
        "low_24h": 62356.5,
        "change_pct_24h": None,
        "source_updated_at": RECEIVED,  # no time in the answer: stamped on receipt
    }


def test_kraken_answers_under_the_asked_name_too() -> None:
    parsed = kraken.parse_ticker(
        {"error": [], "result": {"XBTUSD": KRAKEN_BTC, "XDGUSD": {**KRAKEN_BTC, "c": ["0.1586", "10"]}}},
        _listing(KRAKEN, ("bitcoin", "dogecoin")),
        RECEIVED,
    )
    assert parsed.rejections == []
    assert {(p.coin_id, p.price) for p in _prices(parsed)} == {("bitcoin", 64547.2), ("dogecoin", 0.1586)}


@pytest.mark.parametrize(
    ("errors", "status", "wait"),
    [
        (["EQuery:Unknown asset pair"], "api_error", None),
        (["EService:Unavailable"], "api_error", None),
        (["EAPI:Rate limit exceeded"], "rate_limited", kraken.RATE_LIMIT_PAUSE_S),
        (["EGeneral:Too many requests"], "rate_limited", kraken.RATE_LIMIT_PAUSE_S),
    ],
)
def test_kraken_errors_in_a_200_body(errors: list[str], status: str, wait: float | None) -> None:
    with pytest.raises(PayloadError) as caught:
        kraken.parse_ticker({"error": errors}, _listing(KRAKEN), RECEIVED)
    assert (caught.value.status, caught.value.wait_s) == (status, wait)
    assert errors[0] in str(caught.value)


def test_kraken_warnings_do_not_fail_the_answer() -> None:
    doc = {"error": ["WGeneral:Deprecated"], "result": {"XXBTZUSD": KRAKEN_BTC}}
    assert len(kraken.parse_ticker(doc, _listing(KRAKEN, ("bitcoin",)), RECEIVED).records) == 1


@pytest.mark.parametrize(
    "doc",
    [{"result": {}}, {"error": [], "result": []}, {"error": "EGeneral:x"}, [], "<html>", None],
)
def test_kraken_wrong_shapes_are_payload_errors(doc: Any) -> None:
    with pytest.raises(PayloadError):
        kraken.parse_ticker(doc, _listing(KRAKEN), RECEIVED)


def test_kraken_one_bad_record_among_good_ones() -> None:
    coins = ("bitcoin", "ethereum", "solana", "ripple", "cardano")
    no_last = {k: v for k, v in KRAKEN_BTC.items() if k != "c"}
    doc = {
        "error": [],
        "result": {
            "XXBTZUSD": KRAKEN_BTC,
            "XETHZUSD": no_last,
            "SOLUSD": "garbage",
            "XXRPZUSD": {**KRAKEN_BTC, "b": ["not a number", "1", "1.000"]},
            "ZZZUSD": KRAKEN_BTC,
        },
    }
    parsed = kraken.parse_ticker(doc, _listing(KRAKEN, coins), RECEIVED)
    assert [p.coin_id for p in _prices(parsed)] == ["bitcoin"]
    reasons = sorted((r.reason, r.record_id) for r in parsed.rejections)
    assert reasons == [
        ("invalid", "ethereum (ETHUSD)"),
        ("invalid", "ripple (XRPUSD)"),
        ("missing", "ADAUSD"),
        ("shape", "SOLUSD"),
        ("shape", "ZZZUSD"),
    ]


# --- Bitstamp -------------------------------------------------------------------------------------------

BITSTAMP_BTC = {
    "timestamp": "1791193016",
    "open": "86490.27",
    "high": "86968.58",
    "low": "85090.60",
    "last": "85864.00",
    "volume": "1277.88750357",
    "vwap": "86039.58",
    "bid": "85864.00",
    "ask": "85864.01",
    "side": "1",
    "open_24": "85200.65",
    "percent_change_24": "0.78",
    "market_type": "SPOT",
    "pair": "BTC/USD",
}


def test_bitstamp_reference_ticker_maps_every_field_and_ignores_other_pairs() -> None:
    doc = [{**BITSTAMP_BTC, "pair": "BTC/EUR", "last": "79000.00"}, BITSTAMP_BTC]
    parsed = bitstamp.parse_tickers(doc, _listing(BITSTAMP, ("bitcoin",)))
    assert parsed.rejections == []
    [price] = _prices(parsed)
    assert price.model_dump() == {
        "venue": "bitstamp",
        "coin_id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
        "vs_currency": "usd",
        "price": 85864.0,
        "bid": 85864.0,
        "ask": 85864.01,
        "market_cap": None,
        "volume_24h": None,
        "base_volume_24h": 1277.88750357,
        "high_24h": 86968.58,
        "low_24h": 85090.6,
        "change_pct_24h": 0.78,
        "source_updated_at": datetime.fromtimestamp(1791193016, UTC),  # a string of Unix seconds
    }


def test_bitstamp_one_bad_record_among_good_ones() -> None:
    coins = ("bitcoin", "ethereum", "solana", "ripple")
    doc = [
        BITSTAMP_BTC,
        {**BITSTAMP_BTC, "pair": "ETH/USD", "last": "3,052.7"},
        "garbage",
        {**BITSTAMP_BTC, "pair": "SOL/USD", "timestamp": "soon"},
    ]
    parsed = bitstamp.parse_tickers(doc, _listing(BITSTAMP, coins))
    assert [p.coin_id for p in _prices(parsed)] == ["bitcoin"]
    reasons = sorted((r.reason, r.record_id) for r in parsed.rejections)
    assert reasons == [
        ("invalid", "ethereum (ETH/USD)"),
        ("invalid", "solana (SOL/USD)"),
        ("missing", "XRP/USD"),
        ("shape", None),
    ]


@pytest.mark.parametrize(
    "doc", [{"status": "error", "reason": "Rate limit exceeded"}, {"code": "API0005"}, "x", None]
)
def test_bitstamp_error_bodies_are_payload_errors(doc: Any) -> None:
    with pytest.raises(PayloadError):
        bitstamp.parse_tickers(doc, _listing(BITSTAMP))


# --- Gemini ---------------------------------------------------------------------------------------------

GEMINI_BTC = {
    "bid": "78506.70000",
    "ask": "78506.71000",
    "last": "78531.37000",
    "volume": {"BTC": "76.83286898", "USD": "6033790.4620299026", "timestamp": 1788856560000},
}


def test_gemini_reference_ticker_with_milliseconds() -> None:
    parsed = gemini.parse_ticker(GEMINI_BTC, _listed(GEMINI, "bitcoin"))
    assert parsed.rejections == []
    [price] = _prices(parsed)
    assert price.model_dump() == {
        "venue": "gemini",
        "coin_id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
        "vs_currency": "usd",
        "price": 78531.37,
        "bid": 78506.7,
        "ask": 78506.71,
        "market_cap": None,
        "volume_24h": 6033790.4620299026,  # the USD key
        "base_volume_24h": 76.83286898,  # the coin's own key
        "high_24h": None,
        "low_24h": None,
        "change_pct_24h": None,
        "source_updated_at": datetime(2026, 9, 8, 8, 36, tzinfo=UTC),  # 1788856560000 ms
    }


def test_gemini_volume_keys_follow_the_pair_and_milliseconds_stay_exact() -> None:
    body = {**GEMINI_BTC, "volume": {"ETH": "12.5", "USD": "38000.1", "timestamp": 1788856560123}}
    [price] = _prices(gemini.parse_ticker(body, _listed(GEMINI, "ethereum")))
    assert (price.base_volume_24h, price.volume_24h) == (12.5, 38000.1)
    assert price.source_updated_at == datetime(2026, 9, 8, 8, 36, 0, 123000, tzinfo=UTC)
    # Seconds mistaken for milliseconds would be 1970: refused by nothing, so check the magnitude.
    assert price.source_updated_at.year == 2026


def test_gemini_errors_and_a_bad_pair_among_good_ones() -> None:
    with pytest.raises(PayloadError):
        gemini.parse_ticker({"result": "error", "reason": "InvalidSymbol"}, _listed(GEMINI, "bitcoin"))
    recorded = {
        "btcusd": GEMINI_BTC,
        "ethusd": {"result": "error", "reason": "InvalidSymbol"},
        "solusd": {**GEMINI_BTC, "volume": {"SOL": "1", "USD": "1", "timestamp": "later"}},
        "dogeusd": {**GEMINI_BTC, "last": "0.1586"},
    }
    parsed = parse_recorded(recorded, _listing(GEMINI), gemini.parse_ticker)
    assert [p.coin_id for p in _prices(parsed)] == ["bitcoin", "dogecoin"]
    assert sorted((r.reason, r.record_id) for r in parsed.rejections) == [
        ("invalid", "solana (solusd)"),
        ("shape", "ethusd"),
    ]


# --- the recordings -------------------------------------------------------------------------------------


def _recorded(venue: str) -> list[Parsed]:
    docs = load_fixtures(venue)
    full = _listing(venue)
    if venue == KRAKEN:
        return [
            kraken.parse_ticker(d, full, datetime.fromisoformat(t))
            for d, t in zip(docs, kraken_poll_times(), strict=True)
        ]
    if venue == BITSTAMP:
        return [bitstamp.parse_tickers(d, full) for d in docs]
    one = coinbase.parse_ticker if venue == COINBASE else gemini.parse_ticker
    return [parse_recorded(d, full, one) for d in docs]


@pytest.mark.parametrize("venue", [COINBASE, KRAKEN, BITSTAMP, GEMINI])
def test_recordings_parse_cleanly_and_agree_with_coingecko(venue: str) -> None:
    """Every recorded poll gives every listed coin; prices sit within a few basis points of
    CoinGecko's recorded aggregate of the same minute, inside a tight bid/ask spread."""
    aggregate = [{p.coin_id: p for p in _prices(parse_markets(d))} for d in load_fixtures("coingecko")]
    polls = _recorded(venue)
    assert len(polls) == len(aggregate) == 3
    for k, parsed in enumerate(polls):
        assert parsed.rejections == []
        prices = _prices(parsed)
        assert sorted(p.coin_id for p in prices) == sorted(_listing(venue).coin_ids())
        for price in prices:
            reference = aggregate[k][price.coin_id]
            assert abs(price.price / reference.price - 1) < 12e-4, (venue, k, price.coin_id)
            assert price.bid is not None
            assert price.ask is not None
            assert price.bid < price.ask
            assert (price.ask - price.bid) / price.bid < 15e-4
            assert price.bid * 0.999 <= price.price <= price.ask * 1.001
            assert abs((price.source_updated_at - reference.source_updated_at).total_seconds()) < 90


def test_kraken_recording_keeps_its_canonical_names() -> None:
    """The recorded answers use Kraken's renamed keys, so the replay exercises the renaming."""
    keys = set(load_fixtures(KRAKEN)[0]["result"])
    assert {"XXBTZUSD", "XETHZUSD", "XXRPZUSD", "USDTZUSD"} <= keys
    assert "XBTUSD" not in keys


def test_coinbase_recording_has_nanoseconds() -> None:
    times = [body["time"] for body in load_fixtures(COINBASE)[0].values()]
    assert all(len(t.split(".")[1]) == 10 for t in times)  # nine digits and the Z


def test_recordings_are_not_changed_by_parsing() -> None:
    docs = load_fixtures(BITSTAMP)
    before = copy.deepcopy(docs)
    bitstamp.parse_tickers(docs[0], _listing(BITSTAMP))
    assert docs == before
