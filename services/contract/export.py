"""Export one JSON Schema per topic and version, so non-Python consumers validate against the same
contract the sink enforces: `<topic>.schema.json` is the version producers write now,
`<topic>.v<N>.schema.json` an older version the sink still accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.contract.envelope import MAX_FUTURE, envelope_model
from services.contract.streams import STREAMS, Stream

SCHEMA_DIR = Path(__file__).with_name("schemas")

BEYOND_SCHEMA = (
    "The sink also enforces what JSON Schema cannot express: `key` (and the Kafka message key) is "
    "the payload's natural key; `observed_at` equals the payload's own observation time; no "
    f"timestamp lies more than {int(MAX_FUTURE.total_seconds() // 60)} minutes in the future; "
    "strings contain no NUL character; a message is at most SINK_MAX_MESSAGE_BYTES long."
)


# Pydantic (2.14) writes the constraints of an optional field whose type has a before-validator
# (types.Int | None) under its own names; JSON Schema validators would ignore them silently.
_CONSTRAINT_NAMES = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _fix_constraint_names(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            _CONSTRAINT_NAMES.get(k, k) if "type" in node else k: _fix_constraint_names(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_fix_constraint_names(v) for v in node]
    return node


def schema_for(stream: Stream, version: int | None = None) -> dict[str, Any]:
    version = version or stream.schema_version
    schema: dict[str, Any] = _fix_constraint_names(envelope_model(stream, version).model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:datastack:schema:{stream.base_topic}:v{version}"
    schema["title"] = f"{stream.base_topic} message, version {version}"
    schema["description"] = BEYOND_SCHEMA
    return schema


def schema_path(stream: Stream, version: int | None = None) -> Path:
    if version is None or version == stream.schema_version:
        return SCHEMA_DIR / f"{stream.base_topic}.schema.json"
    return SCHEMA_DIR / f"{stream.base_topic}.v{version}.schema.json"


def render_all() -> dict[Path, str]:
    return {
        schema_path(s, v): json.dumps(schema_for(s, v), indent=2, ensure_ascii=False) + "\n"
        for s in STREAMS.values()
        for v in s.versions
    }


def write_all() -> list[Path]:
    files = render_all()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
