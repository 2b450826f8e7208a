"""Tamper evidence: verify each aggregate's hash chain (see docs/architecture.md, "Tamper evidence").

Each event the orchestrator writes carries `previousHash`, the lower-case hex SHA-256 of the exact wire bytes of
the previous event of the same aggregate; the first (sequence 1) carries null. Walking an aggregate's events in
sequence order, a break is:
- a sequence that does not start at 1, or skips a number: an event was dropped;
- a sequence seen twice: an event was inserted;
- a `previousHash` other than the hash of the predecessor's bytes (or a non-null one on the first event): the
  predecessor was edited (or this event's link was).

Pure and streaming: feed links in (aggregate, sequence) order; memory does not grow with the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def event_hash(raw: bytes) -> str:
    """The hash a successor carries: lower-case hex SHA-256 of the exact wire bytes."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    """What verification needs of one stored event."""

    aggregate_id: str
    sequence: int
    event_id: str
    previous_hash: str | None
    raw: bytes


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

    def feed(self, link: ChainLink) -> ChainBreak | None:
        """Check one link against its predecessor; returns the break when this link is the first one found."""
        if self._broken is not None:
            return self._broken
        self._checked += 1
        previous = self._previous if self._previous and self._previous.aggregate_id == link.aggregate_id else None
        self._previous = link
        reason = _break_reason(previous, link)
        if reason is not None:
            self._broken = ChainBreak(link.aggregate_id, link.sequence, link.event_id, reason)
        return self._broken

    def result(self) -> Verification:
        return Verification(checked=self._checked, broken_at=self._broken)


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
