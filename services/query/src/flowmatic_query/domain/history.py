"""Histories as the API shows them: an execution's events and a workflow's versions, rendered from stored rows.

An actor is always rendered as `{"kind", "id"}` from the envelope (an API key by its id, a webhook, or the
system), never from anything a request said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowmatic_query.domain.listing import DEFAULT_LIMIT, InvalidQueryError, decode_cursor, encode_cursor, parse_limit
from flowmatic_query.domain.timestamps import format_timestamp

Document = dict[str, Any]

# A version is a positive integer of sane length; anything else in the path is the client's mistake (400).
_VERSION = re.compile(r"^[1-9]\d{0,8}$")


def render_actor(actor: dict[str, Any]) -> Document:
    """`{"kind", "id"}` in that order, whatever order the store kept the keys in."""
    return {"kind": actor["kind"], "id": actor["id"]}


@dataclass(frozen=True)
class EventRecord:
    """One stored event of an execution's history."""

    id: str
    type: str
    sequence: int
    occurred_at: datetime
    actor: dict[str, Any]
    correlation_id: str
    causation_id: str | None
    payload: Any


def render_event(record: EventRecord) -> Document:
    """An event as `GET /api/v1/executions/{id}/events` lists it."""
    return {
        "id": record.id,
        "type": record.type,
        "sequence": record.sequence,
        "occurredAt": format_timestamp(record.occurred_at),
        "actor": render_actor(record.actor),
        "correlationId": record.correlation_id,
        "causationId": record.causation_id,
        "payload": record.payload,
    }


@dataclass(frozen=True)
class VersionRecord:
    """One version of a workflow: who made it, when, and what the change was."""

    version: int
    occurred_at: datetime
    actor: dict[str, Any]
    change: str


def render_version(record: VersionRecord) -> Document:
    """An item of `GET /api/v1/workflows/{id}/versions`."""
    return {
        "version": record.version,
        "createdAt": format_timestamp(record.occurred_at),
        "actor": render_actor(record.actor),
        "change": record.change,
    }


def parse_version(raw: str) -> int:
    """The `{version}` of `/versions/{version}`: a positive integer, else 400."""
    if not _VERSION.fullmatch(raw):
        raise InvalidQueryError("version", "version must be a positive integer")
    return int(raw)


@dataclass(frozen=True)
class VersionPageRequest:
    """`limit` versions after version `after` (None: from the first), oldest first."""

    limit: int
    after: int | None


def parse_version_page(limit: str | None, cursor: str | None) -> VersionPageRequest:
    """`limit` and `cursor` of the versions list; the cursor carries the last version shown."""
    after = decode_cursor(cursor)
    if after is not None and not _VERSION.fullmatch(after):
        raise InvalidQueryError("cursor", "cursor is malformed")
    return VersionPageRequest(
        limit=parse_limit(limit) if limit is not None else DEFAULT_LIMIT,
        after=None if after is None else int(after),
    )


def version_cursor(records: list[VersionRecord], limit: int) -> str | None:
    """The cursor after a page cut from up to `limit + 1` records (None on the last page)."""
    if len(records) <= limit or not records[:limit]:
        return None
    return encode_cursor(str(records[limit - 1].version))
