"""The versioned JSON envelope around every message, with strict decoding for the sink.

Wire format (UTF-8 JSON, one object per Kafka message, Kafka key = `key`):
    {"schema_version": 2, "source": "coinbase", "key": "coinbase:bitcoin:1747407859",
     "observed_at": "...Z", "produced_at": "...Z", "payload": {...}}

`schema_version` is the version of the stream's contract (streams.py): crypto_prices is at 2
(venues), the others at 1. The sink still accepts the versions a stream lists as legacy and
upgrades them on the way in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
)

from services.contract import lossless
from services.contract.streams import Stream
from services.contract.types import SchemaVersion, Timestamp

MAX_FUTURE = timedelta(hours=1)
"""Timestamps later than now + MAX_FUTURE are implausible (clock skew allowance)."""
DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024

P = TypeVar("P", bound=BaseModel)


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int
    """Narrowed to the one version each concrete model accepts (`envelope_model`)."""
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="e.g. coingecko, synthetic")
    key: str = Field(min_length=1, max_length=256)
    observed_at: Timestamp = Field(description="must equal the payload's own observation time")
    produced_at: Timestamp
    payload: P

    def payload_json(self) -> str:
        """The JSON text stored in the raw table's jsonb `payload` column."""
        return self.payload.model_dump_json()


class _VerbatimPayload:
    """Mixed into an envelope whose payload must be stored as received, not as re-serialised:
    free-form numbers kept exactly (lossless.py), or an older version's payload before its upgrade.
    A subclass, not a private attribute of every envelope: those cost every message ~1.5 us."""

    _payload_json: str = PrivateAttr()

    def payload_json(self) -> str:
        return self._payload_json


def _verbatim(stream: Stream, env: Envelope[Any], payload_json: str) -> Envelope[Any]:
    model = verbatim_model(stream)
    copy = model.model_construct(**{name: getattr(env, name) for name in type(env).model_fields})
    copy._payload_json = payload_json  # type: ignore[attr-defined]
    return copy


class ContractError(Exception):
    """A message that breaks the contract. `error_class` is a short stable label for metrics/DLQ."""

    def __init__(self, error_class: str, reason: str) -> None:
        super().__init__(f"{error_class}: {reason}")
        self.error_class = error_class
        self.reason = reason


def wrap(
    stream: Stream, payload: BaseModel, source: str, produced_at: datetime | None = None
) -> Envelope[Any]:
    """Build the envelope for a payload, deriving key and observed_at from the stream's contract."""
    return envelope_model(stream)(
        schema_version=stream.schema_version,
        source=source,
        key=stream.key_of(payload),
        observed_at=stream.observed_at_of(payload),
        produced_at=produced_at or datetime.now(UTC),
        payload=payload,
    )


def encode(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json().encode("utf-8")


def decode(
    stream: Stream,
    value: bytes | None,
    key: bytes | None = None,
    *,
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Envelope[Any]:
    """Validate a raw Kafka message against the stream's contract or raise ContractError.

    Parsing and validation happen in one pass in pydantic-core (`model_validate_json`; the field
    types in types.py refuse what the published schema refuses); the error is classified
    afterwards, so the common, valid case pays for nothing else. Rules the JSON Schema cannot
    express are checked after it: the key is the natural key, no timestamp lies more than
    MAX_FUTURE ahead, the envelope's observed_at is the payload's own.
    """
    if value is None:
        raise ContractError("empty", "message has no value (tombstone)")
    if len(value) > max_bytes:
        raise ContractError("oversize", f"{len(value)} bytes exceeds the {max_bytes}-byte limit")
    if b"\\u0000" in value:
        # PostgreSQL text and jsonb cannot store NUL; reject here rather than fail a whole batch.
        raise ContractError("invalid_text", "string contains a NUL character (\\u0000)")
    try:
        env = envelope_model(stream).model_validate_json(value)
    except ValidationError as exc:
        env = _decode_legacy(stream, value, key, exc)
    else:
        _check_key(stream.key_of(env.payload), env.key, key)
    _check_times(stream, env, now or datetime.now(UTC))
    if stream.free_form and any(lossless.has_float(getattr(env.payload, f)) for f in stream.free_form):
        try:
            exact = lossless.exact_fields(value, stream.free_form)
        except lossless.NotJsonError as exc:
            raise ContractError("schema", f"payload: {exc}") from None
        env = _verbatim(stream, env, lossless.payload_json(env.payload, exact))
    return env


def _check_key(expected: str, envelope_key: str, kafka_key: bytes | None) -> None:
    if envelope_key != expected:
        raise ContractError("key_mismatch", f"envelope key {envelope_key!r} != natural key {expected!r}")
    if kafka_key is not None and kafka_key.decode("utf-8", "replace") != expected:
        raise ContractError("key_mismatch", f"Kafka key {kafka_key!r} != natural key {expected!r}")


def _check_times(stream: Stream, env: Envelope[Any], now: datetime) -> None:
    limit = now + MAX_FUTURE
    payload = env.payload
    for name in stream.timestamp_fields:
        ts = getattr(payload, name)
        if ts is not None and ts > limit:
            raise ContractError("future_timestamp", f"payload.{name} {ts.isoformat()} is in the future")
    if env.observed_at > limit:
        raise ContractError("future_timestamp", f"observed_at {env.observed_at.isoformat()} is in the future")
    if env.produced_at > limit:
        raise ContractError("future_timestamp", f"produced_at {env.produced_at.isoformat()} is in the future")
    observed = stream.observed_at_of(payload)
    if env.observed_at != observed:
        raise ContractError(
            "observed_at_mismatch",
            f"envelope observed_at {env.observed_at.isoformat()} != the payload's {observed.isoformat()}",
        )


def _decode_legacy(stream: Stream, value: bytes, key: bytes | None, exc: ValidationError) -> Envelope[Any]:
    """A message of an older version the stream still accepts, upgraded; else the classified error.
    Only messages that failed as the current version come here, so the common case pays nothing."""
    if not stream.legacy or not any(e["loc"] == ("schema_version",) for e in exc.errors()):
        raise _classify(exc) from None
    version = _version_of(value)
    legacy = stream.legacy.get(version) if version is not None else None
    if legacy is None:
        raise _classify(exc) from None
    try:
        old = envelope_model(stream, version).model_validate_json(value)
    except ValidationError as old_exc:
        raise _classify(old_exc) from None
    _check_key(legacy.key_of(old.payload), old.key, key)
    payload = legacy.upgrade(old.payload)
    env = envelope_model(stream)(
        schema_version=stream.schema_version,
        source=old.source,
        key=stream.key_of(payload),
        observed_at=old.observed_at,
        produced_at=old.produced_at,
        payload=payload,
    )
    return _verbatim(stream, env, old.payload.model_dump_json())  # stored as received, not upgraded


def _version_of(value: bytes) -> int | None:
    """The schema_version a message claims, read on the slow path only (1.0 is 1 in JSON)."""
    try:
        version = json.loads(value).get("schema_version")
    except (ValueError, AttributeError):
        return None
    if isinstance(version, float) and version.is_integer():
        return int(version)
    return version if type(version) is int else None


@cache
def verbatim_model(stream: Stream) -> type[Envelope[Any]]:
    base = envelope_model(stream)
    model: Any = type(f"Verbatim{base.__name__}", (_VerbatimPayload, base), {})
    return model  # type: ignore[no-any-return]


@cache
def envelope_model(stream: Stream, version: int | None = None) -> type[Envelope[Any]]:
    """The concrete envelope class of a stream at one version (the current one by default)."""
    version = version or stream.schema_version
    current = version == stream.schema_version
    payload = stream.payload_model if current else stream.legacy[version].payload_model
    # Exactly this version; required, so nothing is guessed.
    version_field: Any = (Annotated[int, SchemaVersion(version)], ...)
    model = create_model(
        f"{payload.__name__}Envelope",
        __base__=Envelope[payload],  # type: ignore[valid-type]
        schema_version=version_field,
    )
    return model  # type: ignore[return-value]


def _classify(exc: ValidationError) -> ContractError:
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return ContractError("invalid_json", errors[0]["msg"][:300])
    if any(e["type"] in ("model_type", "model_attributes_type") and not e["loc"] for e in errors):
        return ContractError("envelope", "expected a JSON object")
    if any(e["loc"] and e["loc"][0] == "schema_version" for e in errors):
        return ContractError("envelope", "unsupported or missing schema_version")
    if any(not e["loc"] or e["loc"][0] != "payload" for e in errors):
        return ContractError("envelope", _summarize(exc))
    return ContractError("schema", _summarize(exc))


def _summarize(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
