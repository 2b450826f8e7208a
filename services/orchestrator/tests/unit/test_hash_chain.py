"""The hash chain: every workflow and execution event carries the SHA-256 of the previous event's wire bytes,
within a batch, across batches, and after the aggregate was restored from its snapshot."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import Actor, Payload, decode, encode, new_envelope
from flowmatic_contracts.events import StepRequested, StepSucceeded, WebhookReceived, WorkflowCreated
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import NodeSpec, WorkflowSpec
from flowmatic_orchestrator.adapters.execution_snapshots import decode_execution, encode_execution
from flowmatic_orchestrator.adapters.expressions import resolver_at
from flowmatic_orchestrator.adapters.snapshots import decode_snapshot, encode_snapshot
from flowmatic_orchestrator.adapters.state_store import InMemoryExecutions
from flowmatic_orchestrator.domain import DecisionContext, WorkflowState
from flowmatic_orchestrator.domain.chain import event_hash, link
from flowmatic_orchestrator.entrypoints.batch import BatchResult, InboundRecord, process_batch
from flowmatic_orchestrator.entrypoints.executions import ExecutionChanges

TOPICS = Topics(prefix="unit.")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACTOR = Actor(kind="apiKey", id="key_1")
HOOK = Actor(kind="webhook", id="wh_1")
_ids = itertools.count(1)
_clock = {"now": NOW}

WORKFLOW = WorkflowSpec(name="flow", nodes=[NodeSpec(id="trigger", type="webhook"), NodeSpec(id="n", type="noop")])
DELAYED = WorkflowSpec.model_validate(
    {
        "name": "delayed",
        "nodes": [
            {"id": "trigger", "type": "webhook"},
            {"id": "a", "type": "noop"},
            {"id": "wait", "type": "delay", "parameters": {"seconds": 5}},
            {"id": "b", "type": "noop"},
        ],
        "connections": [{"from": "trigger", "to": "a"}, {"from": "a", "to": "wait"}, {"from": "wait", "to": "b"}],
    }
)


def context() -> DecisionContext:
    return DecisionContext(
        now=_clock["now"], new_webhook_id=lambda: f"wh_{next(_ids)}", new_message_id=lambda: f"msg_{next(_ids)}"
    )


def assert_chained(raws: list[bytes]) -> None:
    """What an auditor checks from the log alone: sequences 1..n, the first previousHash null, every other
    the SHA-256 (lower-case hex) of the record value before it."""
    envelopes = [orjson.loads(raw) for raw in raws]
    assert [e["sequence"] for e in envelopes] == list(range(1, len(raws) + 1))
    assert envelopes[0]["previousHash"] is None
    for before, after in itertools.pairwise(zip(raws, envelopes, strict=True)):
        assert after[1]["previousHash"] == hashlib.sha256(before[0]).hexdigest(), after[1]["type"]


def values(result: BatchResult, topic: str, aggregate_id: str) -> list[bytes]:
    return [r.value for r in result.records if r.topic == topic and r.key == aggregate_id.encode() and r.value]


# ---- the pure link ------------------------------------------------------------------------------------------------


def test_link_sets_previous_hash_before_encoding_and_hashes_the_bytes_it_returns() -> None:
    event = new_envelope(WorkflowCreated(spec=WORKFLOW, webhooks=[]), aggregate_id="wf_1", actor=ACTOR, sequence=2)
    linked = link(event, "ab" * 32)
    assert linked.envelope.previous_hash == "ab" * 32
    assert linked.raw == encode(linked.envelope)
    assert decode(linked.raw) == linked.envelope
    assert linked.hash == hashlib.sha256(linked.raw).hexdigest() == event_hash(linked.raw)
    assert linked.hash == linked.hash.lower() and len(linked.hash) == 64


def test_the_first_event_of_an_aggregate_never_links_back() -> None:
    event = new_envelope(WorkflowCreated(spec=WORKFLOW, webhooks=[]), aggregate_id="wf_1", actor=ACTOR, sequence=1)
    assert link(event, "ab" * 32).envelope.previous_hash is None


# ---- workflows ----------------------------------------------------------------------------------------------------


def command(payload: Payload, offset: int, workflow_id: str = "wf_1") -> InboundRecord:
    envelope = new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, correlation_id=f"cor_{offset}")
    return InboundRecord(TOPICS.commands, 0, offset, workflow_id.encode(), encode(envelope))


def test_workflow_events_chain_within_a_batch_and_across_a_restore_from_the_snapshot() -> None:
    first = process_batch(
        [command(CreateWorkflow(spec=WORKFLOW), 0), command(UpdateWorkflow(spec=WORKFLOW), 1)],
        lambda _p, _w: None,
        TOPICS,
        context,
    )
    raws = values(first, TOPICS.workflow_events, "wf_1")
    [*_, snapshot] = values(first, TOPICS.workflow_state, "wf_1")
    restored = decode_snapshot(snapshot)  # as a new owner of the partition reads it
    assert restored.last_event_hash == hashlib.sha256(raws[-1]).hexdigest()

    second = process_batch(
        [command(UpdateWorkflow(spec=WORKFLOW), 2), command(DeleteWorkflow(), 3)],
        lambda _p, wid: restored if wid == "wf_1" else None,
        TOPICS,
        context,
    )
    raws += values(second, TOPICS.workflow_events, "wf_1")
    assert [decode(r).type for r in raws] == [
        "WorkflowCreated",
        "WorkflowUpdated",
        "WorkflowUpdated",
        "WorkflowDeleted",
    ]
    assert_chained(raws)


def test_a_rejected_command_leaves_the_chain_where_it_was() -> None:
    result = process_batch(
        [
            command(CreateWorkflow(spec=WORKFLOW), 0),
            command(CreateWorkflow(spec=WORKFLOW), 1),  # 409: no event
            command(UpdateWorkflow(spec=WORKFLOW, expected_version=7), 2),  # 412: no event
            command(UpdateWorkflow(spec=WORKFLOW), 3),
        ],
        lambda _p, _w: None,
        TOPICS,
        context,
    )
    assert_chained(values(result, TOPICS.workflow_events, "wf_1"))


def test_chains_of_different_workflows_do_not_mix() -> None:
    result = process_batch(
        [
            command(CreateWorkflow(spec=WORKFLOW), 0, "wf_a"),
            command(CreateWorkflow(spec=WORKFLOW), 1, "wf_b"),
            command(UpdateWorkflow(spec=WORKFLOW), 2, "wf_a"),
            command(UpdateWorkflow(spec=WORKFLOW), 3, "wf_b"),
        ],
        lambda _p, _w: None,
        TOPICS,
        context,
    )
    assert_chained(values(result, TOPICS.workflow_events, "wf_a"))
    assert_chained(values(result, TOPICS.workflow_events, "wf_b"))


def test_a_workflow_snapshot_written_before_the_chain_still_loads() -> None:
    state = WorkflowState(workflow_id="wf_1", version=3, spec=WORKFLOW, created_at=NOW, updated_at=NOW)
    old = orjson.loads(encode_snapshot(state))
    del old["lastEventHash"]
    assert decode_snapshot(orjson.dumps(old)) == state
    assert state.last_event_hash is None


# ---- executions ---------------------------------------------------------------------------------------------------


def delivery(execution_id: str, workflow: WorkflowSpec) -> InboundRecord:
    received = WebhookReceived(
        webhook_id="wh_1", workflow_id="wf_1", workflow_version=1, trigger_id="trigger", payload={"n": 1}, spec=workflow
    )
    envelope = new_envelope(received, aggregate_id=execution_id, actor=HOOK, correlation_id="cor_1")
    return InboundRecord(TOPICS.webhooks, 0, 0, execution_id.encode(), encode(envelope))


def run(store: InMemoryExecutions, *records: InboundRecord) -> BatchResult:
    """One batch, then adopt its executions as the processor does after the commit."""
    result = process_batch(records, lambda _p, _w: None, TOPICS, context, executions=store, resolver=resolver_at)
    for partition, changed in result.executions.items():
        for execution in changed.values():
            store.put(partition, execution)
    return result


def answer(result: BatchResult, offset: int, output: Any = None) -> InboundRecord:
    [request] = [decode(r.value) for r in result.records if r.topic == TOPICS.step_requests and r.value]
    step = request.payload_as(StepRequested)
    reply = new_envelope(
        StepSucceeded(node_id=step.node_id, attempt=step.attempt, output=output),
        aggregate_id=request.aggregate_id,
        actor=request.actor,
        correlation_id=request.correlation_id,
        causation_id=request.id,
    )
    return InboundRecord(TOPICS.step_results, 0, offset, request.aggregate_id.encode(), encode(reply))


def restored(store: InMemoryExecutions, execution_id: str) -> InMemoryExecutions:
    """A new owner's view: the execution as decoded from the snapshot bytes the last batch wrote."""
    running = store.get(0, execution_id)
    assert running is not None
    fresh = InMemoryExecutions()
    fresh.load(0, {execution_id: decode_execution(encode_execution(running))})
    return fresh


def test_execution_events_chain_across_batches_a_restore_and_a_timer() -> None:
    _clock["now"] = NOW
    store = InMemoryExecutions()
    started = run(store, delivery("ex_1", DELAYED))
    raws = values(started, TOPICS.execution_events, "ex_1")
    after_a = run(store, answer(started, 0, {"a": 1}))  # a succeeds; the delay is scheduled (a timer)
    raws += values(after_a, TOPICS.execution_events, "ex_1")

    store = restored(store, "ex_1")
    running = store.get(0, "ex_1")
    assert running is not None and running.state.last_event_hash == hashlib.sha256(raws[-1]).hexdigest()

    _clock["now"] = NOW + timedelta(seconds=6)
    fired = ExecutionChanges(store, TOPICS, context, resolver_at)
    fired.timer(0, "ex_1", "wait")
    timer_values = [r.value for r in fired.records if r.topic == TOPICS.execution_events and r.value]
    raws += timer_values
    for execution in fired.changed[0].values():
        store.put(0, execution)
    b_done = answer(BatchResult(records=fired.records), 1, {"b": 2})
    store = restored(store, "ex_1")
    raws += values(run(store, b_done), TOPICS.execution_events, "ex_1")
    _clock["now"] = NOW

    assert decode(raws[-1]).type == "ExecutionSucceeded"
    assert "StepScheduled" in [decode(r).type for r in timer_values]
    assert_chained(raws)


def test_executions_in_one_batch_keep_separate_chains() -> None:
    store = InMemoryExecutions()
    result = run(store, delivery("ex_1", WORKFLOW), delivery("ex_2", DELAYED))
    assert_chained(values(result, TOPICS.execution_events, "ex_1"))
    assert_chained(values(result, TOPICS.execution_events, "ex_2"))


def test_a_tampered_history_fails_the_check() -> None:
    """The check above can fail: an edited event no longer matches its successor's previousHash."""
    store = InMemoryExecutions()
    raws = values(run(store, delivery("ex_1", DELAYED)), TOPICS.execution_events, "ex_1")
    edited = raws[0].replace(b'"n":1', b'"n":2')
    assert edited != raws[0]
    with pytest.raises(AssertionError):
        assert_chained([edited, *raws[1:]])


def test_an_execution_snapshot_written_before_the_chain_still_loads() -> None:
    store = InMemoryExecutions()
    run(store, delivery("ex_1", DELAYED))
    running = store.get(0, "ex_1")
    assert running is not None
    old = orjson.loads(encode_execution(running))
    del old["state"]["last_event_hash"]
    assert decode_execution(orjson.dumps(old)).state.last_event_hash is None
