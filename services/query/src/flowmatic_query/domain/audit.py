"""The audit log: who did what, accepted or rejected. Entries come from command outcomes and webhook deliveries.

- `CommandAccepted` / `CommandRejected` (topic `outcomes`): the actor is the envelope's, which the orchestrator
  copies from the command, which the gateway derived from the API key (by its id, never its value).
- `WebhookReceived` (accepted delivery; aggregateId = the execution it starts) and `WebhookRejected` (refused
  delivery; aggregateId = the webhook id), both on topic `webhooks`, actor = the webhook.

The order is newest first by (occurredAt, event id): both are in the log, so a rebuilt read model pages the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected, WebhookReceived
from flowmatic_query.domain.history import render_actor
from flowmatic_query.domain.listing import InvalidQueryError, decode_cursor, encode_cursor, parse_limit
from flowmatic_query.domain.timestamps import format_timestamp, parse_timestamp

Document = dict[str, Any]

ACTIONS_BY_COMMAND = {
    "CreateWorkflow": "workflow.create",
    "UpdateWorkflow": "workflow.update",
    "DeleteWorkflow": "workflow.delete",
    "StartExecution": "execution.start",
}
EXECUTION_START = "execution.start"
EXECUTION_REPLAY = "execution.replay"
WEBHOOK_DELIVER = "webhook.deliver"
ACTIONS = (*ACTIONS_BY_COMMAND.values(), EXECUTION_REPLAY, WEBHOOK_DELIVER)
OUTCOMES = ("accepted", "rejected")
ACTOR_KINDS = ("apiKey", "webhook", "system")
# The wire type of a refused delivery, matched by name (see `audit_entry`).
WEBHOOK_REJECTED = "WebhookRejected"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log, as stored."""

    event_id: str
    occurred_at: datetime
    actor: dict[str, Any]
    action: str
    aggregate_id: str
    outcome: str
    reason: str | None = None
    # An accepted StartExecution outcome written before outcomes carried the command's mode: its action is
    # `execution.start` until its execution's ExecutionStarted says it was a replay.
    may_be_replay: bool = False


def command_action(command_type: str) -> str:
    """The action of a command type; a type this service does not know yet keeps its own name."""
    return ACTIONS_BY_COMMAND.get(command_type, command_type)


def outcome_action(outcome: CommandAccepted | CommandRejected) -> str:
    """The action of a command outcome: a StartExecution whose mode is replay is `execution.replay`."""
    action = command_action(outcome.command_type)
    return EXECUTION_REPLAY if action == EXECUTION_START and outcome.mode == "replay" else action


def audit_entry(envelope: Envelope) -> AuditEntry | None:
    """The audit entry an envelope makes, or None when it is not a command outcome or a webhook delivery.

    A StartExecution outcome says whether it was a replay by its `mode`, accepted or rejected. One written before
    outcomes carried the mode (None) is `execution.start`; when it was accepted, it `may_be_replay`, and becomes
    `execution.replay` once its execution's `ExecutionStarted` (mode replay) is projected, in whichever order the
    two arrive (see `adapters/audit_projection.py`). A rejected one without a mode stays `execution.start`: the
    execution holding its id says nothing about the refused command."""
    payload = envelope.payload
    actor: dict[str, Any] = envelope.actor.model_dump(mode="json", by_alias=True)

    def entry(action: str, aggregate_id: str, outcome: str, reason: str | None = None) -> AuditEntry:
        return AuditEntry(envelope.id, envelope.occurred_at, actor, action, aggregate_id, outcome, reason)

    if isinstance(payload, CommandAccepted):
        accepted = entry(outcome_action(payload), payload.aggregate_id, "accepted")
        if accepted.action == EXECUTION_START and payload.mode is None:
            return replace(accepted, may_be_replay=True)
        return accepted
    if isinstance(payload, CommandRejected):
        reason = f"{payload.status} {payload.title}: {payload.detail}"
        return entry(outcome_action(payload), payload.aggregate_id, "rejected", reason)
    if isinstance(payload, WebhookReceived):
        return entry(WEBHOOK_DELIVER, envelope.aggregate_id, "accepted")
    if envelope.type == WEBHOOK_REJECTED:
        data = payload.model_dump(mode="json", by_alias=True)
        return entry(WEBHOOK_DELIVER, envelope.aggregate_id, "rejected", f"{data.get('status')} {data.get('reason')}")
    return None


def render_audit_entry(entry: AuditEntry) -> Document:
    """An item of `GET /api/v1/audit`; `reason` only on rejections."""
    document: Document = {
        "occurredAt": format_timestamp(entry.occurred_at),
        "actor": render_actor(entry.actor),
        "action": entry.action,
        "aggregateId": entry.aggregate_id,
        "outcome": entry.outcome,
    }
    if entry.reason is not None:
        document["reason"] = entry.reason
    return document


@dataclass(frozen=True)
class AuditPosition:
    """Where a page of the audit log continues: after the entry at (occurred_at, event_id), going back in time."""

    occurred_at: datetime
    event_id: str


@dataclass(frozen=True)
class AuditQuery:
    """The filters and page of `GET /api/v1/audit`. `actor_kind` is None when the filter named only an id."""

    limit: int
    after: AuditPosition | None = None
    actor_kind: str | None = None
    actor_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_actor(raw: str | None) -> tuple[str | None, str | None]:
    """`actor`: `kind:id` (e.g. `apiKey:admin`, `webhook:wh_…`) or a bare id matching any kind."""
    if raw is None or raw == "":
        return None, None
    kind, colon, actor_id = raw.partition(":")
    if not colon:
        return None, raw
    if kind not in ACTOR_KINDS or not actor_id:
        raise InvalidQueryError("actor", f"actor must be an id or kind:id with kind one of {', '.join(ACTOR_KINDS)}")
    return kind, actor_id


def _bound(parameter: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_timestamp(raw.strip())
    except ValueError as exc:
        raise InvalidQueryError(
            parameter, f"{parameter} must be an RFC 3339 date-time such as 2026-02-08T12:00:00Z"
        ) from exc


def parse_audit_query(params: dict[str, str | None]) -> AuditQuery:
    """`limit`, `cursor`, `actor`, `action`, `outcome`, `since`, `until` (inclusive bounds of occurredAt)."""
    action, outcome = params.get("action"), params.get("outcome")
    if action is not None and action not in ACTIONS:
        raise InvalidQueryError("action", f"action must be one of {', '.join(ACTIONS)}")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidQueryError("outcome", "outcome must be accepted or rejected")
    since, until = _bound("since", params.get("since")), _bound("until", params.get("until"))
    if since is not None and until is not None and since > until:
        raise InvalidQueryError("until", "until must not be before since")
    actor_kind, actor_id = parse_actor(params.get("actor"))
    return AuditQuery(
        limit=parse_limit(params.get("limit")),
        after=decode_audit_cursor(params.get("cursor")),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
    )


def encode_audit_cursor(entry: AuditEntry) -> str:
    """The opaque cursor after `entry`: its time in microseconds since the epoch and its event id."""
    micros = (entry.occurred_at - _EPOCH) // timedelta(microseconds=1)
    return encode_cursor(f"{micros}_{entry.event_id}")


_AUDIT_CURSOR = re.compile(r"^(\d{1,18})_(.+)$")


def decode_audit_cursor(raw: str | None) -> AuditPosition | None:
    """The position a cursor continues after; a cursor we did not issue is a 400."""
    decoded = decode_cursor(raw)
    if decoded is None:
        return None
    match = _AUDIT_CURSOR.fullmatch(decoded)
    if match is None:
        raise InvalidQueryError("cursor", "cursor is malformed")
    return AuditPosition(_EPOCH + timedelta(microseconds=int(match.group(1))), match.group(2))


def audit_next_cursor(entries: list[AuditEntry], limit: int) -> str | None:
    """The cursor after a page cut from up to `limit + 1` entries (None on the last page)."""
    if len(entries) <= limit or limit < 1:
        return None
    return encode_audit_cursor(entries[limit - 1])
