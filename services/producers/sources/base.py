"""What parsers return and what the runner asks of a source.

Parsers are pure: a decoded response document in, validated payload models and rejections out. One
bad record never spoils the others; a document that is the wrong shape as a whole raises PayloadError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from services.contract import StreamName

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rejection:
    """A record the parser refused. `reason` is a short stable label for metrics, `detail` is for logs."""

    reason: str
    detail: str
    record_id: str | None = None


@dataclass
class Parsed:
    records: list[BaseModel] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        self.records.extend(other.records)
        self.rejections.extend(other.rejections)


@dataclass
class PollResult:
    """One poll's outcome. `min_wait_s` is the least the runner must wait before polling again
    (GitHub's X-Poll-Interval, an exhausted rate limit, replay pacing); `not_modified` marks a 304."""

    parsed: Parsed
    min_wait_s: float = 0.0
    not_modified: bool = False


class Source(Protocol):
    stream: StreamName
    label: str
    """The envelope's `source` and the metrics label (coingecko, github, open-meteo, ...)."""

    def poll(self) -> PollResult:
        """Fetch and parse once. Raises FetchError (transport/HTTP) or PayloadError (garbage body)."""
        ...

    def close(self) -> None: ...


def build(
    model: type[M], fields: Mapping[str, Any], record_id: str | None, on_error: list[Rejection]
) -> M | None:
    """Construct (and so validate) a payload model; on failure append a Rejection and return None."""
    try:
        return model(**fields)
    except ValidationError as exc:
        on_error.append(Rejection("invalid", summarize(exc), record_id))
        return None


def summarize(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:4]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']} (got {_short(err.get('input'))})")
    more = exc.error_count() - 4
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def get_path(doc: Any, *path: str) -> Any:
    """doc[a][b]... or None when any step is missing or not an object (every field is optional)."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


ParseFn = Callable[[Any], Parsed]
