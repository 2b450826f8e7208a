"""process_batch: what one transaction writes for a batch of consumed commands."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime

import orjson
import pytest

from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, StartExecution, UpdateWorkflow
from flowmatic_contracts.envelope import Actor, Payload, decode, encode, new_envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected, WebhookRejected, WorkflowDeleted
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import NodeSpec, WorkflowSpec
from flowmatic_orchestrator.adapters.snapshots import decode_snapshot, encode_snapshot
from flowmatic_orchestrator.domain import DecisionContext, WorkflowState
from flowmatic_orchestrator.entrypoints.batch import BatchResult, InboundRecord, OutboundRecord, process_batch

TOPICS = Topics(prefix="unit.")
SPEC = WorkflowSpec(name="flow", nodes=[NodeSpec(id="trigger", type="webhook"), NodeSpec(id="n", type="noop")])
ACTOR = Actor(kind="apiKey", id="key_1")
_ids = itertools.count(1)


def context() -> DecisionContext:
    return DecisionContext(
        now=datetime(2026, 2, 8, tzinfo=UTC),
        new_webhook_id=lambda: f"wh_{next(_ids)}",
        new_message_id=lambda: f"msg_{next(_ids)}",
    )


def record(
    payload: Payload | bytes | None, offset: int, *, workflow_id: str = "wf_1", partition: int = 0
) -> InboundRecord:
    if isinstance(payload, Payload):
        value: bytes | None = encode(
            new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, correlation_id=f"cor_{offset}")
        )
    else:
        value = payload
    return InboundRecord(TOPICS.commands, partition, offset, workflow_id.encode(), value)


def run(*records: InboundRecord, known: dict[str, WorkflowState] | None = None) -> BatchResult:
    states = known or {}
    return process_batch(records, lambda _partition, wid: states.get(wid), TOPICS, context)


def value_of(record: OutboundRecord) -> bytes:
    assert record.value is not None, f"a tombstone on {record.topic}"
    return record.value


def outcomes(result: BatchResult) -> list[Payload]:
    return [decode(value_of(r)).payload for r in result.records if r.topic == TOPICS.outcomes]


def test_a_create_writes_its_event_snapshot_and_outcome() -> None:
    result = run(record(CreateWorkflow(spec=SPEC), 7))
    assert [r.topic for r in result.records] == [TOPICS.workflow_events, TOPICS.workflow_state, TOPICS.outcomes]
    event, snapshot, outcome = result.records
    assert event.key == snapshot.key == b"wf_1" and outcome.key == b"cor_7"
    assert decode(value_of(outcome)).correlation_id == "cor_7"
    assert decode_snapshot(value_of(snapshot)) == result.states[0]["wf_1"]
    assert result.next_offsets == {(TOPICS.commands, 0): 8}


def test_commands_in_one_batch_see_each_others_effects() -> None:
    result = run(
        record(CreateWorkflow(spec=SPEC), 0),
        record(UpdateWorkflow(spec=SPEC, expected_version=1), 1),
        record(UpdateWorkflow(spec=SPEC, expected_version=1), 2),
        record(DeleteWorkflow(), 3),
    )
    assert [
        (type(o).__name__, getattr(o, "version", None) or getattr(o, "status", None)) for o in outcomes(result)
    ] == [
        ("CommandAccepted", 1),
        ("CommandAccepted", 2),
        ("CommandRejected", 412),
        ("CommandAccepted", 3),
    ]
    events = [decode(value_of(r)) for r in result.records if r.topic == TOPICS.workflow_events]
    assert [e.sequence for e in events] == [1, 2, 3]
    assert result.states[0]["wf_1"].deleted and result.states[0]["wf_1"].version == 3
    assert result.next_offsets == {(TOPICS.commands, 0): 4}


def test_a_deleted_workflow_keeps_a_snapshot_not_a_tombstone() -> None:
    created = run(record(CreateWorkflow(spec=SPEC), 0)).states[0]
    result = run(record(DeleteWorkflow(), 1), known=created)
    [snapshot] = [r for r in result.records if r.topic == TOPICS.workflow_state]
    assert decode_snapshot(value_of(snapshot)).deleted
    [event] = [decode(value_of(r)) for r in result.records if r.topic == TOPICS.workflow_events]
    assert isinstance(event.payload, WorkflowDeleted) and event.payload.webhook_ids == [
        w.webhook_id for w in created["wf_1"].webhooks
    ]


def test_a_rejection_writes_only_the_outcome() -> None:
    result = run(record(UpdateWorkflow(spec=SPEC), 0))
    assert [r.topic for r in result.records] == [TOPICS.outcomes]
    [outcome] = outcomes(result)
    assert isinstance(outcome, CommandRejected) and outcome.status == 404
    assert result.states == {}


def test_bad_messages_are_skipped_and_their_offsets_advance() -> None:
    not_a_command = new_envelope(
        CommandAccepted(command_id="c", command_type="CreateWorkflow", aggregate_id="wf_1", version=1),
        aggregate_id="wf_1",
        actor=ACTOR,
    )
    result = run(
        record(b"\x00\xffgarbage", 0),
        record(None, 1),
        record(orjson.dumps({"type": "NoSuchThing", "payload": {}}), 2),
        record(orjson.dumps({"type": "CreateWorkflow", "payload": {"spec": {"name": ""}}}), 3),
        record(encode(not_a_command), 4),
        record(orjson.dumps([1, 2]), 5),
        record(CreateWorkflow(spec=SPEC), 6, partition=0),
    )
    assert [type(o) for o in outcomes(result)] == [CommandAccepted]
    assert result.next_offsets == {(TOPICS.commands, 0): 7}


def test_an_execution_command_is_answered_on_the_outcomes_topic() -> None:
    start = StartExecution(workflow_id="wf_1", workflow_version=1, spec=SPEC, trigger_id="trigger")
    result = run(record(start, 0, workflow_id="ex_1"))
    [outcome] = outcomes(result)
    assert isinstance(outcome, CommandAccepted) and outcome.aggregate_id == "ex_1"
    assert result.next_offsets == {(TOPICS.commands, 0): 1}


def test_a_message_on_the_wrong_topic_is_skipped() -> None:
    misrouted = InboundRecord(
        TOPICS.webhooks,
        0,
        3,
        b"wf_1",
        encode(new_envelope(CreateWorkflow(spec=SPEC), aggregate_id="wf_1", actor=ACTOR)),
    )
    result = run(misrouted)
    assert result.records == [] and result.next_offsets == {(TOPICS.webhooks, 0): 4}


def test_a_refused_delivery_is_passed_over_quietly(caplog: pytest.LogCaptureFixture) -> None:
    refused = WebhookRejected(
        webhook_id="wh_1", workflow_id="wf_1", status=401, reason="signature_invalid", method="POST"
    )
    record_ = InboundRecord(
        TOPICS.webhooks, 0, 5, b"wh_1", encode(new_envelope(refused, aggregate_id="wh_1", actor=ACTOR))
    )
    with caplog.at_level(logging.DEBUG):
        result = run(record_)
    assert result.records == [] and result.next_offsets == {(TOPICS.webhooks, 0): 6}
    assert caplog.records == []


def test_partitions_are_tracked_separately() -> None:
    result = run(
        record(CreateWorkflow(spec=SPEC), 10, workflow_id="wf_a", partition=0),
        record(CreateWorkflow(spec=SPEC), 20, workflow_id="wf_b", partition=1),
    )
    assert set(result.states[0]) == {"wf_a"} and set(result.states[1]) == {"wf_b"}
    assert result.next_offsets == {(TOPICS.commands, 0): 11, (TOPICS.commands, 1): 21}


def test_a_snapshot_round_trips_through_json() -> None:
    state = run(record(CreateWorkflow(spec=SPEC), 0)).states[0]["wf_1"]
    raw = encode_snapshot(state)
    assert decode_snapshot(raw) == state
    assert orjson.loads(raw)["workflowId"] == "wf_1"  # camelCase, like every other record in the log
