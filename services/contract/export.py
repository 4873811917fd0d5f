"""Export one JSON Schema per topic, so non-Python consumers validate against the same contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.contract.envelope import Envelope
from services.contract.streams import STREAMS

SCHEMA_DIR = Path(__file__).with_name("schemas")


def schema_for(topic: str) -> dict[str, Any]:
    stream = next(s for s in STREAMS.values() if s.base_topic == topic)
    schema = Envelope[stream.payload_model].model_json_schema()  # type: ignore[name-defined]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:datastack:schema:{topic}:v1"
    schema["title"] = f"{topic} message (envelope v1)"
    return schema


def render_all() -> dict[Path, str]:
    return {
        SCHEMA_DIR / f"{s.base_topic}.schema.json": json.dumps(schema_for(s.base_topic), indent=2) + "\n"
        for s in STREAMS.values()
    }


def write_all() -> list[Path]:
    files = render_all()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
