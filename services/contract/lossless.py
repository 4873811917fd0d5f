"""Free-form JSON (a GitHub event's own payload) stored exactly as it arrived.

Pydantic parses JSON numbers into Python floats, so a free-form `{"x": 1e400}` would become
infinity and be written as null, and `0.1234567890123456789` would lose digits. PostgreSQL's jsonb
keeps any JSON number exactly, so for a message whose bytes contain a fraction or an exponent the
free-form fields are parsed again with every number as a Decimal and written back verbatim. The
common message (integers and strings only) never takes this path.

NaN and Infinity are not JSON (RFC 8259): such a message is refused, never stored as null.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel


class NotJsonError(ValueError):
    """NaN or Infinity: accepted by some parsers, not JSON, not storable without a change."""


def has_float(node: Any) -> bool:
    """Whether parsed JSON holds a float anywhere (a number written with a fraction or an exponent,
    or NaN/Infinity): only then can re-serialising it change a digit. Integers and strings are
    exact already. A walk over the parsed value (about 0.5 us for a typical GitHub payload) is
    cheaper than any scan of the raw bytes."""
    kind = type(node)
    if kind is float:
        return True
    if kind is dict:
        node = node.values()
    elif kind is not list:
        return False
    for value in node:
        kind = type(value)
        if kind is float or ((kind is dict or kind is list) and has_float(value)):
            return True
    return False


def _refuse(constant: str) -> Any:
    raise NotJsonError(f"{constant} is not a JSON number")


def exact_fields(value: bytes, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named payload fields of a raw message, with every number as int or Decimal."""
    doc = json.loads(value, parse_float=Decimal, parse_constant=_refuse)
    payload = doc["payload"]
    return {name: payload[name] for name in fields if name in payload}


def payload_json(payload: BaseModel, exact: dict[str, Any]) -> str:
    """The payload as JSON text, with the `exact` fields written verbatim."""
    doc = payload.model_dump(mode="json", exclude=set(exact))
    doc.update(exact)
    return dumps(doc)


def dumps(value: Any) -> str:
    """json.dumps that writes Decimals as the numbers they are (the stdlib writes floats only)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NotJsonError(f"{value} is not a JSON number")
        return str(value)  # '1E+400', '0.1234567890123456789': valid JSON numbers, exact
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, allow_nan=False)
