"""Envelope -> raw-table row: the column list per table and the value extraction, in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.contract import STREAMS, Envelope, Stream, StreamName


@dataclass(frozen=True)
class Coordinates:
    topic: str
    partition: int
    offset: int


# Columns every raw table has, filled from the envelope and the Kafka coordinates.
COMMON = (
    "natural_key",
    "source",
    "observed_at",
    "produced_at",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "payload",
)
# Payload fields that are not columns of their own (GitHub's nested payload stays in the jsonb).
_NOT_COLUMNS = {"payload"}


@dataclass(frozen=True)
class TableSpec:
    stream: Stream
    typed: tuple[str, ...]
    """Payload fields stored as typed columns (same names as the model's fields)."""

    @property
    def table(self) -> str:
        return self.stream.raw_table

    @property
    def columns(self) -> tuple[str, ...]:
        return self.typed + COMMON

    def row(self, env: Envelope[Any], at: Coordinates) -> tuple[Any, ...]:
        payload = env.payload
        return (
            *(getattr(payload, name) for name in self.typed),
            env.key,
            env.source,
            env.observed_at,
            env.produced_at,
            at.topic,
            at.partition,
            at.offset,
            env.payload_json(),  # text into a jsonb column: PostgreSQL parses it, numbers exactly
        )


def _spec(name: StreamName) -> TableSpec:
    stream = STREAMS[name]
    fields = stream.payload_model.model_fields
    typed = tuple(f for f in fields if f not in COMMON and f not in _NOT_COLUMNS)
    return TableSpec(stream, typed)


TABLES: dict[StreamName, TableSpec] = {name: _spec(name) for name in StreamName}

RowFn = Callable[[Envelope[Any], Coordinates], tuple[Any, ...]]
