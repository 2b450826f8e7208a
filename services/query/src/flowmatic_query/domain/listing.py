"""List queries: `limit`, opaque cursors, filters, and cutting a page. Invalid input raises `InvalidQueryError`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from flowmatic_query.domain.executions import EXECUTION_STATUSES
from flowmatic_query.domain.timestamps import parse_timestamp

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Ids are opaque to clients but ours are URL-safe; anything else in a cursor was not made by us.
_CURSOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

T = TypeVar("T")


class InvalidQueryError(ValueError):
    """A query parameter the client got wrong (answered with 400); `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def parse_limit(raw: str | None) -> int:
    """`limit`: default 50, above 200 capped at 200; not an integer or below 1 is an error."""
    if raw is None:
        return DEFAULT_LIMIT
    text = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise InvalidQueryError("limit", "limit must be an integer")
    value = int(text)
    if value < 1:
        raise InvalidQueryError("limit", "limit must be at least 1")
    return min(value, MAX_LIMIT)


def encode_cursor(last_id: str) -> str:
    """The opaque cursor that continues after `last_id`: base64url without padding."""
    return base64.urlsafe_b64encode(last_id.encode()).rstrip(b"=").decode()


def decode_cursor(raw: str | None) -> str | None:
    """The id a cursor continues after, or None when there is no cursor."""
    if raw is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidQueryError("cursor", "cursor is malformed") from exc
    # Re-encoding must give the input back, so only cursors we issued are accepted.
    if not _CURSOR_ID.fullmatch(decoded) or encode_cursor(decoded) != raw:
        raise InvalidQueryError("cursor", "cursor is malformed")
    return decoded


def parse_bool(parameter: str, raw: str | None) -> bool | None:
    """A boolean filter: `true` or `false` (any case), None when absent."""
    if raw is None:
        return None
    lowered = raw.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise InvalidQueryError(parameter, f"{parameter} must be true or false")


def escape_like(text: str) -> str:
    """Escape LIKE's metacharacters (with `\\` as the escape) so a filter matches them literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class WorkflowFilter:
    """Which workflows a list shows: `active` exact, `name` a case-insensitive substring."""

    active: bool | None = None
    name: str | None = None


def parse_workflow_filter(active: str | None, name: str | None) -> WorkflowFilter:
    """The filters of `GET /api/v1/workflows`; an empty `name` filters nothing."""
    return WorkflowFilter(active=parse_bool("active", active), name=name or None)


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions a list shows: `workflow_id` and `status` exact, `started_at` within [since, until]."""

    workflow_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_execution_filter(
    workflow_id: str | None, status: str | None, since: str | None, until: str | None
) -> ExecutionFilter:
    """The filters of `GET /api/v1/executions`; `since` and `until` are inclusive bounds of `startedAt`.

    An empty `workflowId` filters nothing; a status other than the four the spec names is an error."""
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidQueryError("status", f"status must be one of {', '.join(EXECUTION_STATUSES)}")
    bounds = {name: _parse_bound(name, raw) for name, raw in (("since", since), ("until", until))}
    lower, upper = bounds["since"], bounds["until"]
    if lower is not None and upper is not None and lower > upper:
        raise InvalidQueryError("until", "until must not be before since")
    return ExecutionFilter(workflow_id=workflow_id or None, status=status, since=lower, until=upper)


def _parse_bound(parameter: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_timestamp(raw.strip())
    except ValueError as exc:
        raise InvalidQueryError(
            parameter, f"{parameter} must be an RFC 3339 date-time such as 2026-02-08T12:00:00Z"
        ) from exc


@dataclass(frozen=True)
class PageRequest:
    """`limit` items after the item with id `after` (None: from the newest)."""

    limit: int
    after: str | None


def parse_page_request(limit: str | None, cursor: str | None) -> PageRequest:
    """`limit` and `cursor` of a list request."""
    return PageRequest(limit=parse_limit(limit), after=decode_cursor(cursor))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def cut_page(rows: Sequence[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """A page from up to `limit + 1` rows: the extra row only tells that another page exists."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(id_of(items[-1])) if more and items else None)
