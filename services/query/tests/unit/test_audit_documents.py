"""Audit entries from outcomes and deliveries, the audit query's parameters, and its cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected, WebhookRejected
from flowmatic_query.domain.audit import (
    AuditEntry,
    audit_entry,
    audit_next_cursor,
    decode_audit_cursor,
    encode_audit_cursor,
    parse_audit_query,
    render_audit_entry,
)
from flowmatic_query.domain.listing import InvalidQueryError
from flowmatic_query.testing.envelopes import T0, created
from flowmatic_query.testing.executions import ExecutionHistory

ADMIN = Actor(kind="apiKey", id="admin")


def _accepted(command_type: str, aggregate_id: str = "wf_1") -> CommandAccepted:
    return CommandAccepted(command_id="msg_c", command_type=command_type, aggregate_id=aggregate_id, version=1)


@pytest.mark.parametrize(
    ("command_type", "action"),
    [
        ("CreateWorkflow", "workflow.create"),
        ("UpdateWorkflow", "workflow.update"),
        ("DeleteWorkflow", "workflow.delete"),
        ("StartExecution", "execution.start"),
    ],
)
def test_accepted_commands_map_to_actions(command_type: str, action: str) -> None:
    envelope = new_envelope(_accepted(command_type), aggregate_id="wf_1", actor=ADMIN, occurred_at=T0)
    entry = audit_entry(envelope)
    # an outcome without a mode (written before outcomes carried it) waits for its execution's start to say
    may_be_replay = command_type == "StartExecution"
    assert entry == AuditEntry(
        envelope.id, T0, {"kind": "apiKey", "id": "admin"}, action, "wf_1", "accepted", None, may_be_replay
    )
    assert render_audit_entry(entry) == {
        "occurredAt": "2026-02-08T12:00:00.000Z",
        "actor": {"kind": "apiKey", "id": "admin"},
        "action": action,
        "aggregateId": "wf_1",
        "outcome": "accepted",
    }


@pytest.mark.parametrize(("mode", "action"), [("manual", "execution.start"), ("replay", "execution.replay")])
def test_a_start_outcome_with_a_mode_is_named_by_it_accepted_or_rejected(mode: str, action: str) -> None:
    accepted = _accepted("StartExecution", "ex_1").model_copy(update={"mode": mode})
    rejected = CommandRejected(
        command_id="msg_c",
        command_type="StartExecution",
        aggregate_id="ex_1",
        status=409,
        title="Conflict",
        detail="execution ex_1 already exists",
        mode=mode,
    )
    entries = [
        audit_entry(new_envelope(p, aggregate_id="ex_1", actor=ADMIN, occurred_at=T0)) for p in (accepted, rejected)
    ]
    assert [(e.action, e.outcome, e.may_be_replay) for e in entries if e is not None] == [
        (action, "accepted", False),
        (action, "rejected", False),
    ]
    assert entries[1] is not None and entries[1].reason == "409 Conflict: execution ex_1 already exists"


def test_a_rejected_start_without_a_mode_stays_a_start() -> None:
    rejected = CommandRejected(
        command_id="msg_c", command_type="StartExecution", aggregate_id="ex_1", status=409, title="Conflict", detail="x"
    )
    entry = audit_entry(new_envelope(rejected, aggregate_id="ex_1", actor=ADMIN, occurred_at=T0))
    assert entry is not None and (entry.action, entry.may_be_replay) == ("execution.start", False)


def test_a_rejected_command_carries_its_reason() -> None:
    rejected = CommandRejected(
        command_id="msg_c",
        command_type="UpdateWorkflow",
        aggregate_id="wf_1",
        status=412,
        title="Precondition Failed",
        detail="version 3 is not the current version 4",
    )
    entry = audit_entry(new_envelope(rejected, aggregate_id="cor_1", actor=ADMIN, occurred_at=T0))
    assert entry is not None
    document = render_audit_entry(entry)
    assert document["outcome"] == "rejected" and document["action"] == "workflow.update"
    assert document["aggregateId"] == "wf_1"
    assert document["reason"] == "412 Precondition Failed: version 3 is not the current version 4"


def test_deliveries_accepted_and_rejected_are_webhook_deliver() -> None:
    history = ExecutionHistory("wf_1", execution_id="ex_1")
    received = audit_entry(history.webhook_received({"a": 1}))
    assert received is not None
    assert (received.action, received.aggregate_id, received.outcome) == ("webhook.deliver", "ex_1", "accepted")
    assert received.actor == {"kind": "webhook", "id": "wh_wf_1"}
    refused = WebhookRejected(
        webhook_id="wh_1", workflow_id="wf_1", status=401, reason="signature_invalid", method="POST"
    )
    entry = audit_entry(
        new_envelope(refused, aggregate_id="wh_1", actor=Actor(kind="webhook", id="wh_1"), occurred_at=T0)
    )
    assert entry is not None
    assert (entry.action, entry.aggregate_id, entry.outcome, entry.reason) == (
        "webhook.deliver",
        "wh_1",
        "rejected",
        "401 signature_invalid",
    )


def test_events_that_are_not_outcomes_or_deliveries_make_no_entry() -> None:
    assert audit_entry(created("wf_1", "a")) is None
    assert audit_entry(ExecutionHistory("wf_1").started({})) is None


def test_the_query_parses_every_filter() -> None:
    query = parse_audit_query(
        {
            "actor": "apiKey:admin",
            "action": "execution.replay",
            "outcome": "rejected",
            "since": "2026-02-08T12:00:00Z",
            "until": "2026-02-09T00:00:00+01:00",
            "limit": "10",
        }
    )
    assert (query.actor_kind, query.actor_id, query.action, query.outcome, query.limit) == (
        "apiKey",
        "admin",
        "execution.replay",
        "rejected",
        10,
    )
    assert query.since == T0 and query.until == datetime(2026, 2, 8, 23, 0, tzinfo=UTC)
    bare = parse_audit_query({"actor": "wh_1"})
    assert (bare.actor_kind, bare.actor_id) == (None, "wh_1")


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("actor", "robot:x"),
        ("actor", "apiKey:"),
        ("action", "workflow.explode"),
        ("outcome", "maybe"),
        ("since", "yesterday"),
        ("until", "2026-02-08"),
        ("limit", "0"),
        ("cursor", "!!"),
        ("cursor", "d2ZfMQ"),  # a workflow list cursor ("wf_1"), not one of ours
    ],
)
def test_bad_values_are_rejected_naming_the_parameter(parameter: str, value: str) -> None:
    with pytest.raises(InvalidQueryError) as raised:
        parse_audit_query({parameter: value})
    assert raised.value.parameter == parameter


def test_since_after_until_is_rejected() -> None:
    with pytest.raises(InvalidQueryError):
        parse_audit_query({"since": "2026-02-09T00:00:00Z", "until": "2026-02-08T00:00:00Z"})


def test_cursors_round_trip_to_the_microsecond() -> None:
    entry = AuditEntry("msg_01ABC", datetime(2026, 2, 8, 12, 0, 0, 123456, tzinfo=UTC), {}, "a", "b", "accepted")
    position = decode_audit_cursor(encode_audit_cursor(entry))
    assert position is not None
    assert (position.occurred_at, position.event_id) == (entry.occurred_at, entry.event_id)
    assert audit_next_cursor([entry], 1) is None
    assert audit_next_cursor([entry, entry], 1) == encode_audit_cursor(entry)
