"""Field types of the contract, so the sink accepts exactly what the exported JSON Schema accepts.

Pydantic's lax mode coerces JSON input the schema forbids (`"price": "103.5"` becomes 103.5,
`"public": "yes"` becomes true, 1747407859 becomes a datetime), so a consumer validating with the
published schema and the sink would disagree. These types refuse it, and where pydantic's strict
mode is in turn stricter than JSON Schema, they follow the schema:

- `Float`: a JSON number (an integer is one too); never a string, a boolean, NaN or Infinity
  (not JSON; 1e400 also parses to infinity).
- `Int`: JSON Schema counts 1.0 as an integer, so it becomes 1; strings, booleans and fractions
  are refused.
- `Bool`: true or false only.
- `Timestamp`: an RFC 3339 date-time with a zone. Pydantic alone also takes
  "2026-03-12 16:45:00+0000", "…T16:45Z" or "1773333900"; the schema carries the same pattern, so
  validators that do not assert `format` agree too. Sub-microsecond digits are truncated, as
  PostgreSQL's timestamptz stores microseconds.

Decoding is the sink's hottest path, so the checks run in pydantic-core wherever it can (a Python
validator costs about a microsecond per field): only `Int` calls Python. Producers build models
from Python values: `services.producers.sources.base.build` converts an API's numeric strings
first, and `Timestamp` also takes a datetime there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, Strict, WithJsonSchema
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | bool):
        raise ValueError("expected a JSON integer")
    return value


class _Rfc3339:
    """JSON: the text must match RFC3339, then pydantic-core parses it. Python: an aware datetime,
    or text as in JSON."""

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:
        text = cs.chain_schema(
            [cs.str_schema(pattern=RFC3339, strict=True), cs.datetime_schema(tz_constraint="aware")]
        )
        aware = cs.datetime_schema(tz_constraint="aware", strict=True)
        return cs.json_or_python_schema(json_schema=text, python_schema=cs.union_schema([aware, text]))


class SchemaVersion:
    """`schema_version` equal to one version: an integer (1.0 counts, as in JSON Schema's `const`),
    never `true` (Python's `True == 1` would let it pass as version 1)."""

    def __init__(self, version: int) -> None:
        self.version = version

    def __get_pydantic_core_schema__(self, _source: Any, _handler: GetCoreSchemaHandler) -> CoreSchema:
        v = self.version
        return cs.union_schema(
            [
                cs.int_schema(strict=True, ge=v, le=v),
                cs.chain_schema([cs.float_schema(strict=True, ge=v, le=v), cs.int_schema()]),
            ],
            custom_error_type="schema_version",
            custom_error_message=f"Input should be {v}",
        )

    def __get_pydantic_json_schema__(self, _schema: CoreSchema, _handler: Any) -> dict[str, Any]:
        return {"const": self.version, "type": "integer"}


Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Int = Annotated[int, BeforeValidator(_integer)]
Bool = Annotated[bool, Strict()]
Timestamp = Annotated[
    datetime, _Rfc3339, WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339})
]
