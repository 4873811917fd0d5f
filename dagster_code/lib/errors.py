"""Readable errors: Dagster wraps what an asset raised ("Error occurred while executing op ...");
what a user needs is the innermost cause."""

from __future__ import annotations

from typing import Any


def root_cause(error: Any) -> str:
    """`Class: message` of the innermost cause of a SerializableErrorInfo, on one line."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = " ".join(
        line.strip() for line in str(getattr(error, "message", error)).splitlines() if line.strip()
    )
    return message
