"""What parsers return and what the runner asks of a source.

Parsers are pure: a decoded response document in, validated payload models and rejections out. One
bad record never spoils the others; a document that is the wrong shape as a whole raises PayloadError.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.contract import StreamName
from services.producers.http import FetchError, PayloadError
from services.producers.metrics import ProducerMetrics

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


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
    """The envelope's `source` and the metrics label (coingecko, kraken, github, open-meteo, ...)."""

    def poll(self) -> PollResult:
        """Fetch and parse once. Raises FetchError (transport/HTTP) or PayloadError (garbage body)."""
        ...

    def close(self) -> None: ...


def build(
    model: type[M], fields: Mapping[str, Any], record_id: str | None, on_error: list[Rejection]
) -> M | None:
    """Construct (and so validate) a payload model; on failure append a Rejection and return None.

    The contract itself never converts or changes a value (the sink refuses `"price": "1.5"` and
    ' bitcoin' rather than silently fixing them), so what an API writes its own way is normalised
    here: top-level strings are stripped (APIs pad names now and then), and numbers sent as text
    (the exchanges' prices) become numbers, by pydantic's lax parsing ("abc", "NaN" and "" stay
    text, and the model reports them)."""
    numeric = _numeric_fields(model)
    try:
        return model(**{k: _normalise(v, k in numeric) for k, v in fields.items()})
    except ValidationError as exc:
        on_error.append(Rejection("invalid", summarize(exc), record_id))
        return None


_LAX_NUMBER: TypeAdapter[float | int] = TypeAdapter(int | float)


def _normalise(value: Any, numeric: bool) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if numeric:
        try:
            return _LAX_NUMBER.validate_python(value)
        except ValidationError:
            return value
    return value


@cache
def _numeric_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields the published schema types as number or integer (optional ones included)."""

    def numeric(prop: dict[str, Any]) -> bool:
        return prop.get("type") in ("number", "integer") or any(numeric(p) for p in prop.get("anyOf", ()))

    return frozenset(name for name, prop in model.model_json_schema()["properties"].items() if numeric(prop))


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


def poll_each(
    items: Sequence[T],
    fetch_one: Callable[[T], Parsed],
    item_id: Callable[[T], str],
    metrics: ProducerMetrics,
    unlisted: Collection[str] = (),
) -> PollResult:
    """A poll made of one request per item (a city, an exchange product): a failing item is counted
    and skipped while the others still produce.

    An HTTP status in `unlisted` (Coinbase's 404 for an unknown product) is the answer "no such
    item": a rejected record, not a failed request. A failure that carries a server wait (an
    exhausted rate limit) ends the poll there rather than asking for the next item at once. The
    poll fails as a whole (FetchError) only when no item got an answer.
    """
    out = Parsed()
    failures: list[FetchError] = []
    answered = 0
    for item in items:
        try:
            out.extend(fetch_one(item))
            answered += 1
        except FetchError as exc:
            if exc.status == "stopped":
                raise
            if exc.status in unlisted:
                out.rejections.append(Rejection("unlisted", exc.reason, item_id(item)))
                answered += 1
                continue
            log.warning(
                "request failed", extra={"item": item_id(item), "status": exc.status, "reason": exc.reason}
            )
            failures.append(exc)
            if exc.wait_s:
                break
        except PayloadError as exc:
            metrics.api_error(exc.status)
            log.warning("response unreadable", extra={"item": item_id(item), "reason": str(exc)})
            failures.append(FetchError(exc.status, str(exc), exc.wait_s))
    wait = max((f.wait_s or 0.0 for f in failures), default=0.0)
    if failures and not answered:
        raise FetchError(
            failures[-1].status,
            f"all {len(failures)} requests failed; last: {failures[-1].reason}",
            wait or None,
        )
    return PollResult(out, min_wait_s=wait)
