"""The benchmark's crypto records, built with the contract code, in two wire forms.

- `envelope`: our versioned envelope (what `datastack sink` consumes), exactly as producers write it.
- `connect_json`: the same row in Kafka Connect's JsonConverter form with an embedded schema
  (`{"schema": {...}, "payload": {...}}`), what a Kafka Connect sink such as Debezium's JDBC sink
  consumes. Its fields are the payload model's fields plus the envelope's key, source and times,
  derived from the model's JSON Schema, so both forms follow the contract when the payload changes.

One template is built through the contract (tests.support.messages), then varied with
`model_copy` (no per-record validation, which would dominate a million-record setup); a sample of
the records is decoded with the sink's own `decode` so a drift from the contract fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from services.contract import STREAMS, Envelope, StreamName
from services.contract.envelope import decode, encode, wrap
from tests.support import messages

STREAM = STREAMS[StreamName.CRYPTO]
BASE = datetime(2026, 1, 1, tzinfo=UTC)
PRODUCED_AT = datetime(2026, 1, 20, tzinfo=UTC)
SAMPLE_EVERY = 10_007
"""Every this-many records one is decoded with the sink's contract check."""

ENVELOPE_FIELDS = ("natural_key", "source", "observed_at", "produced_at")
"""Columns a raw row takes from the envelope rather than from the payload."""

ZONED_TIMESTAMP = "io.debezium.time.ZonedTimestamp"
"""Connect schema name for an ISO-8601 timestamp with offset: Debezium maps it to timestamptz."""


@dataclass(frozen=True)
class Record:
    key: bytes
    envelope: bytes
    connect_key: bytes
    connect_value: bytes


@cache
def _template() -> Envelope[Any]:
    key, value = messages.crypto(0)
    return decode(STREAM, value, key)


def _connect_type(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(Connect schema of one JSON Schema property, optional?)"""
    options = prop.get("anyOf", [prop])
    optional = any(o.get("type") == "null" for o in options)
    (actual,) = [o for o in options if o.get("type") != "null"]
    kind = actual.get("type")
    if kind == "string" and actual.get("format") == "date-time":
        return {"type": "string", "name": ZONED_TIMESTAMP, "version": 1}, optional
    types = {"string": "string", "number": "double", "integer": "int64", "boolean": "boolean"}
    if kind not in types:
        raise ValueError(f"no Connect type for JSON Schema property {prop}")
    return {"type": types[kind]}, optional


@cache
def connect_schema() -> dict[str, Any]:
    """The Connect struct schema of one crypto row: payload fields plus the envelope's."""
    props = STREAM.payload_model.model_json_schema()["properties"]
    fields: list[dict[str, Any]] = []
    for name, prop in props.items():
        schema, optional = _connect_type(prop)
        fields.append({"field": name, **schema, "optional": optional})
    fields.append({"field": "natural_key", "type": "string", "optional": False})
    fields.append({"field": "source", "type": "string", "optional": False})
    for name in ("observed_at", "produced_at"):
        fields.append(
            {"field": name, "type": "string", "name": ZONED_TIMESTAMP, "version": 1, "optional": False}
        )
    return {"type": "struct", "name": "datastack.crypto_prices.Value", "optional": False, "fields": fields}


@cache
def _schema_text() -> str:
    return json.dumps(connect_schema(), separators=(",", ":"))


def record(i: int) -> Record:
    """Record number i: a unique natural key (one source second per record), varied prices."""
    base = _template()
    price = 100 + (i % 997) / 10
    payload = base.payload.model_copy(
        update={
            "source_updated_at": BASE + timedelta(seconds=i),
            "price": price,
            "high_24h": price * 1.01,
            "low_24h": price * 0.99,
            "change_pct_24h": (i % 200) / 10 - 10,
        }
    )
    env = wrap(STREAM, payload, base.source, produced_at=PRODUCED_AT)
    value = encode(env)
    if i % SAMPLE_EVERY == 0:
        decode(STREAM, value, env.key.encode())  # raises ContractError if the generator drifted
    # Spliced as text: json.dumps of the embedded schema per record would dominate the setup.
    extra = json.dumps(
        {
            "natural_key": env.key,
            "source": env.source,
            "observed_at": env.observed_at.isoformat(),
            "produced_at": env.produced_at.isoformat(),
        },
        separators=(",", ":"),
    )
    row = env.payload.model_dump_json()[:-1] + "," + extra[1:]
    connect_value = f'{{"schema":{_schema_text()},"payload":{row}}}'
    connect_key = json.dumps({"schema": {"type": "string", "optional": False}, "payload": env.key})
    return Record(env.key.encode(), value, connect_key.encode(), connect_value.encode())


def records(n: int, start: int = 0) -> Iterator[Record]:
    for i in range(start, start + n):
        yield record(i)
