"""The three streams: topic names, raw tables, payload models, versions and natural keys in one registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import BaseModel

from services.contract.payloads import CryptoPrice, CryptoPriceV1, GithubEvent, WeatherObservation


class StreamName(StrEnum):
    CRYPTO = "crypto"
    GITHUB = "github"
    WEATHER = "weather"


def key_timestamp(ts: datetime) -> str:
    """Canonical UTC text for timestamps inside natural keys: 2026-03-12T16:45:00Z."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _crypto_key(p: Any) -> str:
    return f"{p.venue}:{p.coin_id}:{int(p.source_updated_at.timestamp())}"


def _crypto_key_v1(p: Any) -> str:
    return f"{p.coin_id}:{int(p.source_updated_at.timestamp())}"


def _github_key(p: Any) -> str:
    return str(p.event_id)


def _weather_key(p: Any) -> str:
    return f"{p.city_id}:{key_timestamp(p.observed_at)}"


def _crypto_observed(p: Any) -> datetime:
    return p.source_updated_at  # type: ignore[no-any-return]


def _github_observed(p: Any) -> datetime:
    return p.created_at  # type: ignore[no-any-return]


def _weather_observed(p: Any) -> datetime:
    return p.observed_at  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LegacyVersion:
    """An older payload version the sink still accepts, and how to bring it to the current one."""

    payload_model: type[BaseModel]
    key_of: Callable[[Any], str]
    """The natural key as that version defined it (what its producers sent as the Kafka key)."""
    upgrade: Callable[[Any], BaseModel]


@dataclass(frozen=True, eq=False)  # identity: decode looks its cached models up per message
class Stream:
    name: StreamName
    base_topic: str
    raw_table: str
    payload_model: type[BaseModel]
    key_of: Callable[[Any], str]
    """Natural key: the Kafka message key and the raw table's unique key."""
    observed_at_of: Callable[[Any], datetime]
    """When the observation happened at the source (the envelope's observed_at must equal it)."""
    schema_version: int = 1
    """The version producers write (the envelope's schema_version)."""
    legacy: Mapping[int, LegacyVersion] = field(default_factory=dict)
    free_form: tuple[str, ...] = ()
    """Payload fields holding arbitrary JSON, stored exactly as received (lossless.py)."""

    def topic(self, namespace: str = "") -> str:
        return f"{namespace}{self.base_topic}"

    def dlq(self, namespace: str = "") -> str:
        return dlq_topic(self.topic(namespace))

    @property
    def versions(self) -> tuple[int, ...]:
        return (*sorted(self.legacy), self.schema_version)

    timestamp_fields: tuple[str, ...] = field(init=False)
    """The payload's timestamps: none may lie more than MAX_FUTURE ahead (set from the model)."""

    def __post_init__(self) -> None:
        # A plain attribute, not a property: decode reads it for every message.
        object.__setattr__(self, "timestamp_fields", _timestamp_fields(self.payload_model))


@cache
def _timestamp_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """Fields the published schema declares as date-times (optional ones included)."""
    props = model.model_json_schema()["properties"]

    def is_timestamp(prop: dict[str, Any]) -> bool:
        return prop.get("format") == "date-time" or any(is_timestamp(p) for p in prop.get("anyOf", ()))

    return tuple(name for name, prop in props.items() if is_timestamp(prop))


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


STREAMS: dict[StreamName, Stream] = {
    StreamName.CRYPTO: Stream(
        StreamName.CRYPTO,
        "crypto_prices",
        "raw_crypto_prices",
        CryptoPrice,
        _crypto_key,
        _crypto_observed,
        schema_version=2,
        legacy={1: LegacyVersion(CryptoPriceV1, _crypto_key_v1, CryptoPriceV1.upgrade)},
    ),
    StreamName.GITHUB: Stream(
        StreamName.GITHUB,
        "github_events",
        "raw_github_events",
        GithubEvent,
        _github_key,
        _github_observed,
        free_form=("payload",),
    ),
    StreamName.WEATHER: Stream(
        StreamName.WEATHER,
        "weather_data",
        "raw_weather_data",
        WeatherObservation,
        _weather_key,
        _weather_observed,
    ),
}


def stream_for_topic(topic: str, namespace: str = "") -> Stream:
    for stream in STREAMS.values():
        if stream.topic(namespace) == topic:
            return stream
    raise KeyError(f"no stream publishes to topic {topic!r}")
