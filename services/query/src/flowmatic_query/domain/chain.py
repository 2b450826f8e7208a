"""Tamper evidence: verify each aggregate's hash chain (see docs/architecture.md, "Tamper evidence").

Each event the orchestrator writes carries `previousHash`, the lower-case hex SHA-256 of the exact wire bytes of
the previous event of the same aggregate; the first (sequence 1) carries null. Walking an aggregate's events in
sequence order, a break is:
- a sequence that does not start at 1, or skips a number: an event was dropped;
- a sequence seen twice: an event was inserted;
- a `previousHash` other than the hash of the predecessor's bytes (or a non-null one on the first event): the
  predecessor was edited (or this event's link was);
- a column of the stored event (what `GET /api/v1/executions/{id}/events` serves: id, type, sequence, occurredAt,
  actor, correlation and causation ids, payload; also aggregate id and previousHash) that does not say what its
  bytes say: the column was edited, or the bytes were (see `stored_events.py`).

A column that disagrees with its bytes is reported once the next link of the aggregate has been checked: if that
link's `previousHash` does not match the bytes either, the bytes were edited and the hash break names the event
(as it always has); if it does, the bytes are vouched for and the column was edited. The last event of an
aggregate has no successor: its mismatch is reported as it is.

Pure and streaming: feed links in (aggregate, sequence) order; memory does not grow with the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flowmatic_query.domain.history import EventRecord
from flowmatic_query.domain.stored_events import column_mismatch


def event_hash(raw: bytes) -> str:
    """The hash a successor carries: lower-case hex SHA-256 of the exact wire bytes."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    """What verification needs of one stored event: its columns (`served`, as the history serves them, plus
    `aggregate_id` and `previous_hash`) and its exact bytes."""

    aggregate_id: str
    previous_hash: str | None
    raw: bytes
    served: EventRecord

    @property
    def sequence(self) -> int:
        return self.served.sequence

    @property
    def event_id(self) -> str:
        return self.served.id


@dataclass(frozen=True)
class ChainBreak:
    """The first place a chain does not hold."""

    aggregate_id: str
    sequence: int
    event_id: str
    reason: str

    def as_document(self) -> dict[str, Any]:
        return {
            "aggregateId": self.aggregate_id,
            "sequence": self.sequence,
            "eventId": self.event_id,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Verification:
    """The verdict: `checked` events, and the first break if any (verification stops there)."""

    checked: int
    broken_at: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    def as_document(self) -> dict[str, Any]:
        """The body of `GET /api/v1/audit/verify`."""
        if self.broken_at is None:
            return {"ok": True, "checked": self.checked}
        return {"ok": False, "checked": self.checked, "brokenAt": self.broken_at.as_document()}


class ChainVerifier:
    """Feed every link in (aggregate_id, sequence) order; `feed` returns the first break, then `result()`."""

    def __init__(self) -> None:
        self._checked = 0
        self._previous: ChainLink | None = None
        self._broken: ChainBreak | None = None
        # The previous link's column mismatch, waiting for its successor's verdict on its bytes; with `checked`
        # as it was at that link.
        self._pending: tuple[ChainLink, str, int] | None = None

    def feed(self, link: ChainLink) -> ChainBreak | None:
        """Check one link against its predecessor and its own bytes; returns the first break once it is known
        (a column mismatch is known one link later, see the module docstring)."""
        if self._broken is not None:
            return self._broken
        self._checked += 1
        previous = self._previous if self._previous and self._previous.aggregate_id == link.aggregate_id else None
        self._previous = link
        reason = _break_reason(previous, link)
        pending, self._pending = self._pending, None
        if pending is not None:
            if reason is not None and _links_to_other_bytes(previous, link):
                # The successor does not vouch for the bytes either: they were edited, and this break names them.
                self._broken = ChainBreak(link.aggregate_id, link.sequence, link.event_id, reason)
            else:
                self._settle(pending, vouched=previous is not None and reason is None)
            return self._broken
        if reason is not None:
            self._broken = ChainBreak(link.aggregate_id, link.sequence, link.event_id, reason)
            return self._broken
        column = column_mismatch(link.aggregate_id, link.previous_hash, link.served, link.raw)
        if column is not None:
            self._pending = (link, column, self._checked)
        return None

    def result(self) -> Verification:
        """The verdict over everything fed (a mismatch still waiting for a successor is a break now)."""
        if self._broken is None and self._pending is not None:
            self._settle(self._pending, vouched=False)
            self._pending = None
        return Verification(checked=self._checked, broken_at=self._broken)

    def _settle(self, pending: tuple[ChainLink, str, int], *, vouched: bool) -> None:
        link, column, checked = pending
        self._checked = checked
        self._broken = ChainBreak(link.aggregate_id, link.sequence, link.event_id, _column_reason(column, vouched))


def _links_to_other_bytes(previous: ChainLink | None, link: ChainLink) -> bool:
    """Whether `link` is the next of its aggregate but its previousHash is not the hash of `previous`'s bytes."""
    return (
        previous is not None
        and link.sequence == previous.sequence + 1
        and link.previous_hash != event_hash(previous.raw)
    )


def _column_reason(column: str, vouched: bool) -> str:
    # Names the column only, never a value: the bytes of a workflow event hold secret ciphertext.
    if column == "raw":
        return "the stored bytes of this event are not a valid event: they were changed"
    where = f"the {column} column does not match the event's stored bytes"
    if vouched:
        return f"{where}; the next event's previousHash matches those bytes, so the column was changed"
    return f"{where}: the column, or the bytes, were changed"


def _break_reason(previous: ChainLink | None, link: ChainLink) -> str | None:
    if previous is None:
        if link.sequence != 1:
            return f"the chain starts at sequence {link.sequence}, not 1: events 1..{link.sequence - 1} are missing"
        if link.previous_hash is not None:
            return "the first event of the aggregate carries a previousHash (it must be null)"
        return None
    if link.sequence == previous.sequence:
        return f"sequence {link.sequence} appears twice (event {previous.event_id} and this one): an inserted event"
    if link.sequence != previous.sequence + 1:
        return f"sequence jumps from {previous.sequence} to {link.sequence}: an event is missing"
    if link.previous_hash != event_hash(previous.raw):
        return (
            f"previousHash does not match the hash of event {previous.event_id} (sequence {previous.sequence}):"
            " that event, or this link, was changed"
        )
    return None


def verify(links: Iterable[ChainLink]) -> Verification:
    """Verify an iterable of links already in (aggregate_id, sequence) order."""
    verifier = ChainVerifier()
    for link in links:
        if verifier.feed(link) is not None:
            break
    return verifier.result()
