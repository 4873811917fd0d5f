"""Field types of the contract, so the sink accepts exactly what the exported JSON Schema accepts.

The sink decodes with `strict=True` (envelope.decode): pydantic's lax mode coerces JSON input the
schema forbids (`"price": "103.5"` becomes 103.5, `"public": "yes"` becomes true, 1747407859 becomes
a datetime), so a consumer validating with the published schema and the sink would disagree.
Producers build models from Python values in lax mode, where converting an exchange's string price
is exactly what a parser should do. Strict mode is in turn stricter than JSON Schema in two places,
fixed here:

- `Int`: JSON Schema counts 1.0 as an integer; strict mode would refuse it, so it becomes 1
  (strings, booleans and fractions are still refused).
- `Timestamp`: an RFC 3339 date-time with a zone. Pydantic also takes "2026-03-12 16:45:00+0000";
  the schema carries the same pattern, so validators that do not assert `format` agree too.
  Sub-microsecond digits are truncated, as PostgreSQL's timestamptz stores microseconds.
- `Float`: any JSON number; never NaN or Infinity (not JSON; 1e400 also parses to infinity).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema

RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
_RFC3339_RE = re.compile(RFC3339)


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | bool):
        raise ValueError("expected a JSON integer")
    return value


def _rfc3339(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # a datetime built by a producer; anything else fails the datetime check
    if not _RFC3339_RE.match(value):
        raise ValueError("expected an RFC 3339 date-time such as 2026-03-12T16:45:00Z")
    # Parsed here because the strict check after a Python validator takes datetimes, not text.
    return datetime.fromisoformat(value)


Float = Annotated[float, Field(allow_inf_nan=False)]
Int = Annotated[int, BeforeValidator(_integer)]
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]
