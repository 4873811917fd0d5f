"""The versioned JSON envelope around every message, with strict decoding for the sink.

Wire format (UTF-8 JSON, one object per Kafka message, Kafka key = `key`):
    {"schema_version": 1, "source": "coingecko", "key": "bitcoin:1747407859",
     "observed_at": "...Z", "produced_at": "...Z", "payload": {...}}
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.contract.streams import Stream

SCHEMA_VERSION: Literal[1] = 1
MAX_FUTURE = timedelta(hours=1)
"""Timestamps later than now + MAX_FUTURE are implausible (clock skew allowance)."""
DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024

P = TypeVar("P", bound=BaseModel)


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="e.g. coingecko, synthetic")
    key: str = Field(min_length=1, max_length=256)
    observed_at: AwareDatetime
    produced_at: AwareDatetime
    payload: P


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

    Parsing and validation happen in one pass in pydantic-core (`model_validate_json`); the error
    is classified afterwards, so the common, valid case pays for nothing else.
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
        raise _classify(exc) from None
    expected = stream.key_of(env.payload)
    if env.key != expected:
        raise ContractError("key_mismatch", f"envelope key {env.key!r} != natural key {expected!r}")
    if key is not None and key.decode("utf-8", "replace") != expected:
        raise ContractError("key_mismatch", f"Kafka key {key!r} != natural key {expected!r}")
    limit = (now or datetime.now(UTC)) + MAX_FUTURE
    for label, ts in (("observed_at", env.observed_at), ("produced_at", env.produced_at)):
        if ts > limit:
            raise ContractError("future_timestamp", f"{label} {ts.isoformat()} is in the future")
    return env


@cache
def envelope_model(stream: Stream) -> type[Envelope[Any]]:
    """The concrete Envelope[Payload] class for a stream (parametrising a generic is not free)."""
    return Envelope[stream.payload_model]  # type: ignore[name-defined]


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
