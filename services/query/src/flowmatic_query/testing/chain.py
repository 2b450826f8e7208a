"""Chain links as the `events` table holds them, for tests of the verifier."""

from __future__ import annotations

from flowmatic_contracts.envelope import Envelope, decode, encode, to_jsonable
from flowmatic_query.domain.chain import ChainLink, event_hash
from flowmatic_query.domain.history import EventRecord
from flowmatic_query.domain.stored_events import stored_payload


def stored_link(raw: bytes) -> ChainLink:
    """The link the projection stores for these bytes: columns decoded from them, the secret left out."""
    envelope = decode(raw)
    data = to_jsonable(envelope)
    return ChainLink(
        aggregate_id=envelope.aggregate_id,
        previous_hash=envelope.previous_hash,
        raw=raw,
        served=EventRecord(
            id=envelope.id,
            type=envelope.type,
            sequence=envelope.sequence,
            occurred_at=envelope.occurred_at,
            actor=data["actor"],
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
            payload=stored_payload(data["payload"]),
        ),
    )


def chained(envelopes: list[Envelope]) -> list[ChainLink]:
    """Envelopes of one aggregate encoded as the orchestrator does (each carries the hash of its predecessor),
    stored as the projection does."""
    links: list[ChainLink] = []
    previous_hash: str | None = None
    for envelope in envelopes:
        raw = encode(envelope.model_copy(update={"previous_hash": previous_hash}))
        links.append(stored_link(raw))
        previous_hash = event_hash(raw)
    return links
