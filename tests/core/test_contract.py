"""The data contract: envelope round-trip, strict decoding with classified errors, JSON Schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from services.contract import STREAMS, StreamName
from services.contract.envelope import ContractError, decode
from services.contract.export import render_all
from tests.support import messages


@pytest.mark.parametrize("name", list(StreamName))
def test_round_trip_and_key_is_the_natural_key(name: StreamName) -> None:
    key, value = messages.FACTORIES[name](7)
    env = decode(STREAMS[name], value, key)
    assert env.key == key.decode() == STREAMS[name].key_of(env.payload)
    assert env.schema_version == 1


def test_natural_keys_follow_the_contract() -> None:
    assert messages.crypto(5)[0] == f"bitcoin:{int(messages.BASE.timestamp()) + 5}".encode()
    assert messages.github(5)[0] == b"10000005"
    assert messages.weather(24)[0] == b"city-0:2026-01-01T00:02:00Z"


def _doc(name: StreamName = StreamName.CRYPTO) -> dict:  # type: ignore[type-arg]
    return json.loads(messages.FACTORIES[name](1)[1])


@pytest.mark.parametrize(
    ("mutate", "error_class"),
    [
        (lambda d: d.update(schema_version=2), "envelope"),
        (lambda d: d.pop("produced_at"), "envelope"),
        (lambda d: d["payload"].update(price=-1), "schema"),
        (lambda d: d["payload"].update(price=float("nan")), "schema"),
        (lambda d: d["payload"].update(coin_id="BTC; DROP TABLE x"), "schema"),
        (lambda d: d["payload"].update(unexpected="field"), "schema"),
        (lambda d: d.update(key="bitcoin:0"), "key_mismatch"),
        (
            lambda d: d.update(produced_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
            "future_timestamp",
        ),
    ],
)
def test_violations_are_classified(mutate, error_class: str) -> None:  # type: ignore[no-untyped-def]
    doc = _doc()
    mutate(doc)
    with pytest.raises(ContractError) as info:
        decode(STREAMS[StreamName.CRYPTO], json.dumps(doc).encode())
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
        decode(STREAMS[StreamName.WEATHER], json.dumps(doc).encode())


def test_schema_files_are_current() -> None:
    for path, text in render_all().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make contract`"


@pytest.mark.parametrize("name", list(StreamName))
def test_json_schema_accepts_valid_and_rejects_invalid(name: StreamName) -> None:
    path = next(p for p in render_all() if p.name == f"{STREAMS[name].base_topic}.schema.json")
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = _doc(name)
    jsonschema.validate(doc, schema)
    doc["payload"] = {"nonsense": True}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
