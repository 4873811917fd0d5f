"""The data contract: envelope round-trip, strict decoding with classified errors, versions, JSON Schemas."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from services.contract import STREAMS, CryptoPriceV1, StreamName
from services.contract.envelope import ContractError, decode, encode, envelope_model, wrap
from services.contract.export import render_all, schema_path
from tests.support import messages

Doc = dict[str, Any]


@pytest.mark.parametrize("name", list(StreamName))
def test_round_trip_and_key_is_the_natural_key(name: StreamName) -> None:
    key, value = messages.FACTORIES[name](7)
    env = decode(STREAMS[name], value, key)
    assert env.key == key.decode() == STREAMS[name].key_of(env.payload)
    assert env.schema_version == STREAMS[name].schema_version
    assert json.loads(env.payload_json()) == json.loads(value)["payload"]


def test_natural_keys_follow_the_contract() -> None:
    assert messages.crypto(5)[0] == f"coinbase:bitcoin:{int(messages.BASE.timestamp()) + 5}".encode()
    assert messages.crypto(5, venue="kraken")[0].startswith(b"kraken:bitcoin:")
    assert messages.github(5)[0] == b"10000005"
    assert messages.weather(24)[0] == b"city-0:2026-01-01T00:02:00Z"


def _doc(name: StreamName = StreamName.CRYPTO) -> Doc:
    return json.loads(messages.FACTORIES[name](1)[1])  # type: ignore[no-any-return]


def _decode(name: StreamName, doc: Doc, key: bytes | None = None) -> Any:
    return decode(STREAMS[name], json.dumps(doc).encode(), key)


@pytest.mark.parametrize(
    ("mutate", "error_class"),
    [
        (lambda d: d.update(schema_version=3), "envelope"),
        (lambda d: d.pop("schema_version"), "envelope"),
        (lambda d: d.pop("produced_at"), "envelope"),
        (lambda d: d["payload"].update(price=-1), "schema"),
        (lambda d: d["payload"].update(price=float("nan")), "schema"),
        (lambda d: d["payload"].update(coin_id="BTC; DROP TABLE x"), "schema"),
        (lambda d: d["payload"].update(unexpected="field"), "schema"),
        (lambda d: d["payload"].pop("venue"), "schema"),
        (lambda d: d.update(key="coinbase:bitcoin:0"), "key_mismatch"),
        (
            lambda d: d.update(produced_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
            "future_timestamp",
        ),
        (lambda d: d.update(observed_at="2026-01-01T00:00:00Z"), "observed_at_mismatch"),
    ],
)
def test_violations_are_classified(mutate: Callable[[Doc], object], error_class: str) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(ContractError) as info:
        _decode(StreamName.CRYPTO, doc)
    assert info.value.error_class == error_class
    assert info.value.reason


def test_size_and_empty_limits() -> None:
    stream = STREAMS[StreamName.GITHUB]
    with pytest.raises(ContractError, match="oversize"):
        decode(stream, b"x" * 2048, max_bytes=1024)
    with pytest.raises(ContractError, match="empty"):
        decode(stream, None)


def test_weather_ranges() -> None:
    doc = _doc(StreamName.WEATHER)
    doc["payload"]["humidity_pct"] = 100.5
    with pytest.raises(ContractError, match="humidity_pct"):
        _decode(StreamName.WEATHER, doc)


# --- hole 1: no coercion ----------------------------------------------------------------------


def _schema(name: StreamName, version: int | None = None) -> Doc:
    return json.loads(schema_path(STREAMS[name], version).read_text())  # type: ignore[no-any-return]


def _numeric_fields(name: StreamName) -> list[tuple[StreamName, str, str]]:
    schema = _schema(name)
    payload = schema["$defs"][STREAMS[name].payload_model.__name__]["properties"]
    out = []
    for field, prop in payload.items():
        types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", ())}
        for kind in ("number", "integer"):
            if kind in types:
                out.append((name, field, kind))
    return out


NUMERIC_FIELDS = [f for name in StreamName for f in _numeric_fields(name)]


def test_every_topic_has_numeric_fields_to_check() -> None:
    assert {name for name, _f, _k in NUMERIC_FIELDS} == set(StreamName)


@pytest.mark.parametrize(("name", "field", "kind"), NUMERIC_FIELDS)
def test_numbers_sent_as_strings_are_refused(name: StreamName, field: str, kind: str) -> None:
    """`"price": "103663.5"` was coerced and stored while the published schema says number."""
    doc = _doc(name)
    doc["payload"][field] = "42" if kind == "integer" else "42.5"
    with pytest.raises(ContractError) as info:
        _decode(name, doc, None)
    assert info.value.error_class == "schema"
    assert field in info.value.reason


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        (StreamName.GITHUB, "public", "true"),
        (StreamName.GITHUB, "public", 1),
        (StreamName.GITHUB, "created_at", 1767225601),
        (StreamName.WEATHER, "observed_at", "2026-01-01 00:00:00+00:00"),
        (StreamName.WEATHER, "city_name", None),
        (StreamName.GITHUB, "actor_id", 1.5),
        (StreamName.GITHUB, "actor_id", True),
        (StreamName.CRYPTO, "coin_id", " bitcoin"),
    ],
)
def test_other_coercions_are_refused(name: StreamName, field: str, value: object) -> None:
    doc = _doc(name)
    doc["payload"][field] = value
    with pytest.raises(ContractError) as info:
        _decode(name, doc)
    assert info.value.error_class == "schema"


def test_an_integral_float_is_an_integer_as_in_json_schema() -> None:
    doc = _doc(StreamName.GITHUB)
    doc["payload"]["actor_id"] = 7.0
    assert _decode(StreamName.GITHUB, doc).payload.actor_id == 7


# --- hole 2: every timestamp of the contract, and observed_at ----------------------------------


def _future_payload(name: StreamName, days: float = 2) -> tuple[bytes, bytes]:
    """A message whose payload timestamp lies ahead, with a matching key and observed_at."""
    stream = STREAMS[name]
    env = decode(stream, messages.FACTORIES[name](3)[1])
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    payload = env.payload.model_copy(update=dict.fromkeys(stream.timestamp_fields, ahead))
    moved = wrap(stream, payload, "synthetic", produced_at=datetime.now(UTC))
    return moved.key.encode(), encode(moved)


@pytest.mark.parametrize("name", list(StreamName))
def test_a_payload_timestamp_two_days_ahead_is_refused(name: StreamName) -> None:
    key, value = _future_payload(name)
    with pytest.raises(ContractError) as info:
        decode(STREAMS[name], value, key)
    assert info.value.error_class == "future_timestamp"


@pytest.mark.parametrize("name", list(StreamName))
def test_a_payload_timestamp_within_the_skew_allowance_is_accepted(name: StreamName) -> None:
    key, value = _future_payload(name, days=0.5 / 24)  # 30 minutes: clock skew, not the future
    assert decode(STREAMS[name], value, key).key == key.decode()


def test_the_envelope_observed_at_must_be_the_payloads() -> None:
    doc = _doc(StreamName.WEATHER)
    doc["observed_at"] = "2025-12-31T23:00:00Z"
    with pytest.raises(ContractError) as info:
        _decode(StreamName.WEATHER, doc)
    assert info.value.error_class == "observed_at_mismatch"
    # The same instant written with another offset is the same time.
    doc = _doc(StreamName.WEATHER)
    doc["observed_at"] = "2026-01-01T01:00:00+01:00"
    assert _decode(StreamName.WEATHER, doc).observed_at == messages.BASE


# --- hole 3: nothing changed silently in free-form JSON ----------------------------------------


def _github_with_payload(raw_payload: str) -> bytes:
    doc = _doc(StreamName.GITHUB)
    doc["payload"]["payload"] = "__RAW__"
    return json.dumps(doc).replace('"__RAW__"', raw_payload).encode()


@pytest.mark.parametrize(
    "raw",
    [
        '{"x": 1e400}',
        '{"x": -1.5E-400, "y": [0.1234567890123456789, 2.5]}',
        '{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
        '{"nested": {"list": [1e308, 1.7976931348623157e309]}}',
        '{"text": "NaN and Infinity inside a string are just text", "v": 1.0}',
    ],
)
def test_free_form_numbers_are_stored_exactly(raw: str) -> None:
    env = decode(STREAMS[StreamName.GITHUB], _github_with_payload(raw))
    stored = json.loads(env.payload_json(), parse_float=Decimal)["payload"]
    assert stored == json.loads(raw, parse_float=Decimal)
    assert str(stored).count("None") == 0  # nothing became null


@pytest.mark.parametrize("raw", ['{"x": NaN}', '{"x": Infinity}', '{"x": [1, -Infinity]}'])
def test_nan_and_infinity_in_free_form_json_are_refused(raw: str) -> None:
    with pytest.raises(ContractError) as info:
        decode(STREAMS[StreamName.GITHUB], _github_with_payload(raw))
    assert info.value.error_class == "schema"
    assert "not a JSON number" in info.value.reason


# --- versions ---------------------------------------------------------------------------------


def _v1_crypto(seconds: int = 11) -> tuple[bytes, bytes]:
    stream = STREAMS[StreamName.CRYPTO]
    payload = CryptoPriceV1(
        coin_id="ethereum",
        symbol="eth",
        name="Ethereum",
        price=3050.25,
        volume_24h=1.5e9,
        source_updated_at=messages.BASE + timedelta(seconds=seconds),
    )
    model = envelope_model(stream, 1)
    env = model(
        schema_version=1,
        source="coingecko",
        key=f"ethereum:{int(payload.source_updated_at.timestamp())}",
        observed_at=payload.source_updated_at,
        produced_at=payload.source_updated_at,
        payload=payload,
    )
    return env.key.encode(), env.model_dump_json().encode()


def test_version_1_crypto_is_accepted_and_upgraded() -> None:
    key, value = _v1_crypto()
    env = decode(STREAMS[StreamName.CRYPTO], value, key)
    assert env.schema_version == 2
    assert env.payload.venue == "coingecko"
    assert env.key == f"coingecko:{key.decode()}"
    assert env.payload.price == 3050.25
    # The raw payload column keeps the message as it was sent.
    assert json.loads(env.payload_json()) == json.loads(value)["payload"]


def test_version_1_crypto_is_checked_against_its_own_rules() -> None:
    key, value = _v1_crypto()
    with pytest.raises(ContractError) as info:
        decode(STREAMS[StreamName.CRYPTO], value, b"coingecko:" + key)  # a v2 key on a v1 message
    assert info.value.error_class == "key_mismatch"
    doc = json.loads(value)
    doc["payload"]["price"] = "3050.25"
    with pytest.raises(ContractError) as info:
        decode(STREAMS[StreamName.CRYPTO], json.dumps(doc).encode())
    assert info.value.error_class == "schema"
    doc = json.loads(value)
    doc["payload"]["venue"] = "kraken"  # version 1 has no venue
    with pytest.raises(ContractError):
        decode(STREAMS[StreamName.CRYPTO], json.dumps(doc).encode())


def test_version_1_is_not_accepted_where_no_stream_had_it() -> None:
    doc = _doc(StreamName.WEATHER)
    doc["schema_version"] = 2
    with pytest.raises(ContractError) as info:
        _decode(StreamName.WEATHER, doc)
    assert info.value.error_class == "envelope"


# --- the published JSON Schemas agree with the sink ---------------------------------------------


def test_schema_files_are_current() -> None:
    for path, text in render_all().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make contract`"
    names = {p.name for p in render_all()}
    assert "crypto_prices.v1.schema.json" in names  # the legacy version the sink still accepts


def _validator(schema: Doc) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_the_format_checker_really_checks_date_times() -> None:
    # Without rfc3339-validator installed, jsonschema skips `format: date-time` silently.
    schema = {"type": "string", "format": "date-time"}
    assert not _validator(schema).is_valid("2026-02-30T00:00:00Z")


REPLACEMENTS: list[object] = [
    "42.5",
    "42",
    "",
    " padded ",
    "bitcoin",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-01-01 00:00:00Z",
    "2026-02-30T00:00:00Z",
    0,
    1,
    -1,
    1.0,
    1.5,
    -0.5,
    150,
    1e15,
    10**30,
    True,
    False,
    None,
    [],
    {},
    {"nested": 1},
]

BEYOND_SCHEMA = {"key_mismatch", "future_timestamp", "observed_at_mismatch", "invalid_text", "oversize"}


def _mutations(doc: Doc) -> Iterator[tuple[str, Doc]]:
    """Every envelope and payload field replaced by every value, removed, and an extra field."""
    for where in ("envelope", "payload"):
        target = doc if where == "envelope" else doc["payload"]
        for field in list(target):
            if where == "envelope" and field == "payload":
                continue
            for value in REPLACEMENTS:
                mutated = copy.deepcopy(doc)
                (mutated if where == "envelope" else mutated["payload"])[field] = value
                yield f"{where}.{field}={value!r}", mutated
            mutated = copy.deepcopy(doc)
            del (mutated if where == "envelope" else mutated["payload"])[field]
            yield f"{where}.{field} removed", mutated
        mutated = copy.deepcopy(doc)
        (mutated if where == "envelope" else mutated["payload"])["extra"] = 1
        yield f"{where}.extra added", mutated


def _versions() -> list[tuple[StreamName, int]]:
    return [(name, v) for name in StreamName for v in STREAMS[name].versions]


@pytest.mark.parametrize(("name", "version"), _versions())
def test_sink_and_published_schema_agree(name: StreamName, version: int) -> None:
    """Whatever the sink accepts passes the schema; whatever it rejects for a reason the schema can
    express, the schema rejects too (checked over a few thousand one-field mutations)."""
    stream = STREAMS[name]
    if version == stream.schema_version:
        doc = _doc(name)
        validator = _validator(_schema(name))
    else:
        doc = json.loads(_v1_crypto()[1])
        validator = _validator(_schema(name, version))
    accepted = rejected = 0
    disagreements = []
    for label, mutated in _mutations(doc):
        try:
            decode(stream, json.dumps(mutated).encode())
            verdict = "accepted"
        except ContractError as exc:
            verdict = exc.error_class
        schema_ok = validator.is_valid(mutated)
        if verdict == "accepted":
            accepted += 1
            if not schema_ok:
                disagreements.append(f"{label}: sink accepts, schema rejects")
        elif verdict not in BEYOND_SCHEMA:
            rejected += 1
            if schema_ok:
                disagreements.append(f"{label}: sink rejects ({verdict}), schema accepts")
    assert not disagreements, "\n".join(disagreements[:20])
    assert accepted >= 20
    assert rejected >= 150


@pytest.mark.parametrize("name", list(StreamName))
def test_producer_output_passes_the_published_schema(name: StreamName) -> None:
    validator = _validator(_schema(name))
    for i in range(50):
        validator.validate(json.loads(messages.FACTORIES[name](i)[1]))
