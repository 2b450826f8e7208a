"""The `events` table's columns as a function of an event's exact bytes, and the check that they still agree.

The projection stores each event twice: its wire bytes (`raw`, which the hash chain vouches for) and columns
decoded from them (`id`, `type`, `sequence`, `occurred_at`, `actor`, ...; `payload` without the webhook-secret
ciphertext), which `GET /api/v1/executions/{id}/events` serves. `column_mismatch` tells whether the columns still
say what the bytes say, so an edit of a served column cannot hide from the chain check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from flowmatic_contracts.envelope import decode, to_jsonable
from flowmatic_query.domain.history import EventRecord

# Ciphertext of webhook secrets: only ever in `raw`, never in a column anyone can query or be served.
SECRET_FIELD = "encryptedSecrets"


def stored_payload(payload: Any) -> Any:
    """The payload as the `payload` column keeps it: the wire payload without its secret ciphertext."""
    if isinstance(payload, dict) and SECRET_FIELD in payload:
        return {key: value for key, value in payload.items() if key != SECRET_FIELD}
    return payload


def column_mismatch(aggregate_id: str, previous_hash: str | None, served: EventRecord, raw: bytes) -> str | None:
    """The first column (by name) that does not say what `raw` says, or None when they all agree.

    First against the bytes as written (the orchestrator writes exactly `to_jsonable`, so this is the usual
    answer and costs one JSON parse); only when that differs, against the envelope as the projection normalised
    it (decoded and dumped again), which is what the columns were made from. Bytes that are not a valid event
    at all are reported as `raw`. Never returns or includes a value, only a name.
    """
    try:
        wire = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "raw"
    if isinstance(wire, dict) and _first_difference(wire, aggregate_id, previous_hash, served) is None:
        return None
    try:
        normalised = to_jsonable(decode(raw))
    except ValueError:  # not JSON, an unknown type, or a body its type refuses (pydantic's errors included)
        return "raw"
    return _first_difference(normalised, aggregate_id, previous_hash, served)


def _first_difference(
    wire: dict[str, Any], aggregate_id: str, previous_hash: str | None, served: EventRecord
) -> str | None:
    checks: tuple[tuple[str, Any, Callable[[Any, Any], bool]], ...] = (
        ("id", served.id, _same_value),
        ("aggregate_id", aggregate_id, _same_value),
        ("type", served.type, _same_value),
        ("sequence", served.sequence, _same_value),
        ("previous_hash", previous_hash, _same_value),
        ("occurred_at", served.occurred_at, _same_instant),
        ("actor", served.actor, _same_object),
        ("correlation_id", served.correlation_id, _same_value),
        ("causation_id", served.causation_id, _same_value),
    )
    for column, value, same in checks:
        if not same(wire.get(_WIRE_NAMES[column]), value):
            return column
    # Served as stored, key order included: compare the JSON text, not Python equality (True == 1 == 1.0).
    if orjson.dumps(stored_payload(wire.get("payload"))) != orjson.dumps(served.payload):
        return "payload"
    return None


_WIRE_NAMES = {
    "id": "id",
    "aggregate_id": "aggregateId",
    "type": "type",
    "sequence": "sequence",
    "previous_hash": "previousHash",
    "occurred_at": "occurredAt",
    "actor": "actor",
    "correlation_id": "correlationId",
    "causation_id": "causationId",
}


def _same_value(wire: Any, column: Any) -> bool:
    # Same type too: a sequence 1 is not `true`, a null is not "None".
    return type(wire) is type(column) and bool(wire == column)


def _same_instant(wire: Any, column: Any) -> bool:
    if not isinstance(wire, str) or not isinstance(column, datetime):
        return False
    try:
        parsed = datetime.fromisoformat(wire)
    except ValueError:
        return False
    # An instant without an offset is no instant; comparing it with an aware one would raise.
    return parsed.tzinfo is not None and parsed == column


def _same_object(wire: Any, column: Any) -> bool:
    # The actor column is jsonb (key order not kept) and served as {kind, id}: compare with sorted keys.
    return bool(orjson.dumps(wire, option=orjson.OPT_SORT_KEYS) == orjson.dumps(column, option=orjson.OPT_SORT_KEYS))
