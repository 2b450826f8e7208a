"""The hash chain of an aggregate's events: each event carries the hash of the wire bytes of the one before.

The orchestrator is the single writer of workflow and execution events, so it knows the exact bytes of the
previous event of each aggregate and keeps their hash in the aggregate's state (and so in its snapshot). An
event is linked by setting its `previousHash` and only then encoded, once: the bytes hashed here are the bytes
that are produced, so a reader can recompute the chain from the log alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flowmatic_contracts.envelope import Envelope, encode


def event_hash(raw: bytes) -> str:
    """The lower-case hex SHA-256 of an event's wire bytes (the Kafka record value)."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class LinkedEvent:
    """An event with its `previousHash` set, its wire bytes, and their hash (the next event's `previousHash`)."""

    envelope: Envelope
    raw: bytes
    hash: str


def link(event: Envelope, previous_hash: str | None) -> LinkedEvent:
    """Chain `event` to its predecessor (`previous_hash` is None for the first event of an aggregate) and encode
    it. The returned `raw` is what must be written; `hash` is what the aggregate's state remembers."""
    linked = event.model_copy(update={"previous_hash": None if event.sequence == 1 else previous_hash})
    raw = encode(linked)
    return LinkedEvent(envelope=linked, raw=raw, hash=event_hash(raw))
