"""Executions in a batch: starts from webhooks and commands, step results, timers, envelopes, snapshots."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import Actor, Envelope, Payload, decode, encode, new_envelope
from flowmatic_contracts.events import (
    CommandAccepted,
    CommandRejected,
    ExecutionFailed,
    StepError,
    StepFailed,
    StepRequested,
    StepSucceeded,
    WebhookReceived,
)
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_orchestrator.adapters.execution_snapshots import (
    Checkpoint,
    RunningExecution,
    decode_execution,
    decode_execution_record,
    encode_checkpoint,
    encode_execution,
)
from flowmatic_orchestrator.adapters.expressions import resolver_at
from flowmatic_orchestrator.adapters.state_store import InMemoryExecutions
from flowmatic_orchestrator.domain import DecisionContext
from flowmatic_orchestrator.entrypoints.batch import BatchResult, InboundRecord, OutboundRecord, process_batch
from flowmatic_orchestrator.entrypoints.executions import ExecutionChanges
from flowmatic_orchestrator.entrypoints.timers import Timer, TimerHeap

TOPICS = Topics(prefix="unit.")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOOK = Actor(kind="webhook", id="wh_1")
API = Actor(kind="apiKey", id="key_1")
EXECUTOR = Actor(kind="system", id="executor")
_ids = itertools.count(1)
_clock = {"now": NOW}


def context() -> DecisionContext:
    return DecisionContext(
        now=_clock["now"], new_webhook_id=lambda: f"wh_{next(_ids)}", new_message_id=lambda: f"msg_{next(_ids)}"
    )


@pytest.fixture(autouse=True)
def reset_clock() -> Iterator[None]:
    _clock["now"] = NOW
    yield
    _clock["now"] = NOW


def spec(nodes: list[dict[str, Any]], connections: list[dict[str, Any]]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "t", "nodes": nodes, "connections": connections})


LINEAR = spec(
    [{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
    [{"from": "trigger", "to": "a"}, {"from": "a", "to": "b"}],
)


def envelope(payload: Payload, execution_id: str = "ex_1", actor: Actor = HOOK, correlation: str = "cor_1") -> Envelope:
    return new_envelope(payload, aggregate_id=execution_id, actor=actor, correlation_id=correlation)


def delivery(execution_id: str = "ex_1", workflow: WorkflowSpec = LINEAR, payload: Any = None) -> Envelope:
    received = WebhookReceived(
        webhook_id="wh_1",
        workflow_id="wf_1",
        workflow_version=2,
        trigger_id="trigger",
        payload=payload or {"n": 1},
        spec=workflow,
    )
    return envelope(received, execution_id)


def at(topic: str, message: Envelope, offset: int, partition: int = 0) -> InboundRecord:
    return InboundRecord(topic, partition, offset, message.aggregate_id.encode(), encode(message))


def run(store: InMemoryExecutions, *records: InboundRecord) -> BatchResult:
    """One batch, then adopt its executions as the processor does after the commit."""
    result = process_batch(records, lambda _p, _w: None, TOPICS, context, executions=store, resolver=resolver_at)
    for partition, changed in result.executions.items():
        for execution in changed.values():
            store.put(partition, execution)
    return result


def on(result: BatchResult, topic: str) -> list[OutboundRecord]:
    return [r for r in result.records if r.topic == topic]


def events(result: BatchResult) -> list[Envelope]:
    return [decode(r.value) for r in on(result, TOPICS.execution_events) if r.value is not None]


def requests(result: BatchResult) -> list[Envelope]:
    return [decode(r.value) for r in on(result, TOPICS.step_requests) if r.value is not None]


def reply(request: Envelope, payload: Payload) -> Envelope:
    """An executor's result for a request: same execution, correlation and actor, caused by the request."""
    return new_envelope(
        payload,
        aggregate_id=request.aggregate_id,
        actor=request.actor,
        correlation_id=request.correlation_id,
        causation_id=request.id,
    )


def succeeded(request: Envelope, output: Any = None) -> Envelope:
    step = request.payload_as(StepRequested)
    return reply(request, StepSucceeded(node_id=step.node_id, attempt=step.attempt, output=output))


# ---- starts --------------------------------------------------------------------------------------------------


def test_a_webhook_starts_an_execution_with_numbered_events_a_request_and_a_snapshot() -> None:
    store = InMemoryExecutions()
    received = delivery()
    result = run(store, at(TOPICS.webhooks, received, 4))
    history = events(result)
    assert [(e.type, e.sequence) for e in history] == [
        ("ExecutionStarted", 1),
        ("StepSucceeded", 2),
        ("StepScheduled", 3),
    ]
    assert all(
        e.aggregate_id == "ex_1" and e.causation_id == received.id and e.correlation_id == "cor_1" and e.actor == HOOK
        for e in history
    )
    started = history[0].payload.model_dump()
    assert started["mode"] == "webhook" and started["input"] == {"n": 1} and started["workflow_version"] == 2
    [request] = requests(result)
    assert request.causation_id == history[2].id and request.sequence == 0 and request.actor == HOOK
    step = request.payload_as(StepRequested)
    assert (step.node_id, step.attempt, step.input) == ("a", 1, {"n": 1})
    assert step.context["execution"] == {"id": "ex_1"} and step.context["workflow"] == {"id": "wf_1", "version": 2}
    [snapshot] = on(result, TOPICS.execution_state)
    assert snapshot.key == b"ex_1" and snapshot.value is not None
    assert decode_execution(snapshot.value) == store.get(0, "ex_1")
    assert on(result, TOPICS.outcomes) == []  # a webhook's caller was answered by the gateway already
    assert result.next_offsets == {(TOPICS.webhooks, 0): 5}


def test_a_repeated_delivery_of_a_running_or_just_finished_execution_changes_nothing() -> None:
    store = InMemoryExecutions()
    only_trigger = spec([{"id": "trigger", "type": "webhook"}], [])
    run(store, at(TOPICS.webhooks, delivery(), 0), at(TOPICS.webhooks, delivery("ex_2", only_trigger), 1))
    assert store.get(0, "ex_1") is not None and store.get(0, "ex_2") is None  # ex_2 finished at once
    again = run(store, at(TOPICS.webhooks, delivery(), 2), at(TOPICS.webhooks, delivery("ex_2", only_trigger), 3))
    assert again.records == [] and again.next_offsets == {(TOPICS.webhooks, 0): 4}


def test_start_execution_is_accepted_with_the_sequence_then_rejected_with_409() -> None:
    store = InMemoryExecutions()
    manual = spec([{"id": "go", "type": "manual"}, {"id": "a", "type": "noop"}], [{"from": "go", "to": "a"}])
    command = StartExecution(
        workflow_id="wf_1", workflow_version=1, spec=manual, trigger_id="go", input=[1], mode="replay", replay_of="ex_0"
    )
    first = envelope(command, actor=API, correlation="cor_a")
    second = envelope(command, actor=API, correlation="cor_b")
    result = run(store, at(TOPICS.commands, first, 0), at(TOPICS.commands, second, 1))
    outcomes = [r for r in result.records if r.topic == TOPICS.outcomes]
    assert [o.key for o in outcomes] == [b"cor_a", b"cor_b"]
    accepted, rejected = (decode(o.value).payload for o in outcomes if o.value is not None)
    assert isinstance(accepted, CommandAccepted) and accepted.version == 3 and accepted.command_id == first.id
    assert isinstance(rejected, CommandRejected) and rejected.status == 409
    assert accepted.mode == "replay" and rejected.mode == "replay"
    started = events(result)[0].payload.model_dump()
    assert started["mode"] == "replay" and started["replay_of"] == "ex_0"
    assert sum(e.type == "ExecutionStarted" for e in events(result)) == 1


def test_start_outcomes_carry_the_command_mode_not_the_existing_execution_mode() -> None:
    """The audit log names a refused replay by the outcome's mode: a replay refused because a manual execution
    holds its id is still a replay, and vice versa."""
    store = InMemoryExecutions()
    manual = spec([{"id": "go", "type": "manual"}, {"id": "a", "type": "noop"}], [{"from": "go", "to": "a"}])
    start = StartExecution(workflow_id="wf_1", workflow_version=1, spec=manual, trigger_id="go", input=[1])
    replay = start.model_copy(update={"mode": "replay", "replay_of": "ex_0"})
    result = run(
        store,
        at(TOPICS.commands, envelope(start, actor=API, correlation="cor_a"), 0),
        at(TOPICS.commands, envelope(replay, actor=API, correlation="cor_b"), 1),
        at(TOPICS.commands, envelope(replay, "ex_2", actor=API, correlation="cor_c"), 2),
        at(TOPICS.commands, envelope(start, "ex_2", actor=API, correlation="cor_d"), 3),
    )
    outcomes = [decode(r.value).payload for r in result.records if r.topic == TOPICS.outcomes and r.value]
    assert [(type(o).__name__, o.model_dump()["mode"]) for o in outcomes] == [
        ("CommandAccepted", "manual"),
        ("CommandRejected", "replay"),
        ("CommandAccepted", "replay"),
        ("CommandRejected", "manual"),
    ]


# ---- step results ----------------------------------------------------------------------------------------------


def test_results_advance_the_execution_and_a_finished_one_gets_a_tombstone() -> None:
    store = InMemoryExecutions()
    [to_a] = requests(run(store, at(TOPICS.webhooks, delivery(), 0)))
    after_a = run(store, at(TOPICS.step_results, succeeded(to_a, {"a": True}), 0))
    assert [(e.type, e.sequence) for e in events(after_a)] == [("StepSucceeded", 4), ("StepScheduled", 5)]
    [to_b] = requests(after_a)
    assert to_b.payload_as(StepRequested).input == {"a": True}
    assert to_b.correlation_id == "cor_1" and to_b.actor == HOOK  # kept all the way from the delivery

    done = run(store, at(TOPICS.step_results, succeeded(to_b, "b"), 1))
    assert [(e.type, e.sequence) for e in events(done)] == [("StepSucceeded", 6), ("ExecutionSucceeded", 7)]
    [snapshot] = on(done, TOPICS.execution_state)
    assert snapshot.value is None  # restores only load running executions
    assert store.get(0, "ex_1") is None and store.exists(0, "ex_1")


def test_the_same_result_twice_in_one_batch_or_later_is_recorded_once() -> None:
    store = InMemoryExecutions()
    [to_a] = requests(run(store, at(TOPICS.webhooks, delivery(), 0)))
    result = succeeded(to_a)
    batch = run(store, at(TOPICS.step_results, result, 0), at(TOPICS.step_results, result, 1))
    assert [e.type for e in events(batch)] == ["StepSucceeded", "StepScheduled"]
    assert len(on(batch, TOPICS.execution_state)) == 1  # one snapshot per execution per batch
    later = run(store, at(TOPICS.step_results, result, 2))
    assert later.records == []


def test_a_result_for_an_unknown_execution_is_ignored() -> None:
    store = InMemoryExecutions()
    stray = envelope(StepSucceeded(node_id="a", attempt=1, output=None), "ex_unknown", EXECUTOR)
    assert run(store, at(TOPICS.step_results, stray, 0)).records == []


def test_a_failed_step_fails_the_execution_naming_the_node() -> None:
    store = InMemoryExecutions()
    [to_a] = requests(run(store, at(TOPICS.webhooks, delivery(), 0)))
    failure = reply(to_a, StepFailed(node_id="a", attempt=1, error=StepError(message="boom")))
    result = run(store, at(TOPICS.step_results, failure, 0))
    end = events(result)[-1].payload
    assert isinstance(end, ExecutionFailed) and end.error.node_id == "a" and end.error.message == "boom"


def test_inputs_on_the_wrong_topic_are_skipped() -> None:
    store = InMemoryExecutions()
    result = run(store, at(TOPICS.commands, delivery(), 0), at(TOPICS.step_results, delivery("ex_2"), 0))
    assert result.records == [] and store.count() == 0


def test_a_bug_while_deciding_fails_the_execution_instead_of_stalling(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryExecutions()
    [to_a] = requests(run(store, at(TOPICS.webhooks, delivery(), 0)))

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("flowmatic_orchestrator.entrypoints.executions.decide_step_result", broken)
    result = run(store, at(TOPICS.step_results, succeeded(to_a), 0))
    [failed] = events(result)
    assert isinstance(failed.payload, ExecutionFailed) and "a bug" in failed.payload.error.message
    assert store.get(0, "ex_1") is None


# ---- timers ---------------------------------------------------------------------------------------------------


DELAYED = spec(
    [
        {"id": "trigger", "type": "webhook"},
        {"id": "wait", "type": "delay", "parameters": {"seconds": "{{ $input.seconds }}"}},
        {"id": "after", "type": "noop"},
    ],
    [{"from": "trigger", "to": "wait"}, {"from": "wait", "to": "after"}],
)


def test_a_delay_resolves_its_expression_and_fires_as_a_timer_caused_by_its_scheduling() -> None:
    store = InMemoryExecutions()
    started = run(store, at(TOPICS.webhooks, delivery(workflow=DELAYED, payload={"seconds": 5}), 0))
    scheduled = events(started)[-1]
    assert scheduled.payload.model_dump()["not_before"] == (NOW + timedelta(seconds=5)).isoformat()
    running = store.get(0, "ex_1")
    assert running is not None and running.scheduled_by == {"wait": scheduled.id}
    assert requests(started) == []  # a delay never goes to an executor

    _clock["now"] = NOW + timedelta(seconds=5)
    changes = ExecutionChanges(store, TOPICS, context, resolver_at)
    changes.timer(0, "ex_1", "wait")
    fired = [decode(r.value) for r in changes.records if r.topic == TOPICS.execution_events and r.value]
    assert [(e.type, e.sequence) for e in fired] == [("StepSucceeded", 4), ("StepScheduled", 5)]
    assert all(e.causation_id == scheduled.id and e.correlation_id == "cor_1" and e.actor == HOOK for e in fired)


def test_a_timer_that_is_not_due_or_is_stale_changes_nothing() -> None:
    store = InMemoryExecutions()
    run(store, at(TOPICS.webhooks, delivery(workflow=DELAYED, payload={"seconds": 5}), 0))
    changes = ExecutionChanges(store, TOPICS, context, resolver_at)
    changes.timer(0, "ex_1", "wait")  # not due yet
    changes.timer(0, "ex_1", "after")  # not waiting
    changes.timer(0, "ex_other", "wait")  # not here
    assert changes.records == [] and changes.snapshot_records() == []


def test_the_timer_heap_orders_keeps_duplicates_once_and_pops_what_is_due() -> None:
    heap = TimerHeap()
    late, early = NOW + timedelta(seconds=10), NOW + timedelta(seconds=1)
    heap.push(Timer(late, 0, "ex_1", "a"))
    heap.push(Timer(early, 1, "ex_2", "b"))
    heap.push(Timer(early, 1, "ex_2", "b"))
    assert len(heap) == 2 and heap.next_due() == early
    assert heap.pop_due(NOW) == []
    assert [t.execution_id for t in heap.pop_due(late)] == ["ex_2", "ex_1"]
    assert heap.next_due() is None
    heap.push(Timer(early, 1, "ex_2", "b"))  # popped timers may come back (a restore)
    assert len(heap) == 1


# ---- adapters -------------------------------------------------------------------------------------------------


def test_snapshots_and_checkpoints_share_the_state_topic_and_round_trip() -> None:
    store = InMemoryExecutions()
    run(store, at(TOPICS.webhooks, delivery(), 0))
    running = store.get(0, "ex_1")
    assert isinstance(running, RunningExecution)
    assert decode_execution_record(encode_execution(running)) == running
    checkpoint = Checkpoint(offsets={TOPICS.webhooks: 12, TOPICS.commands: 0})
    assert decode_execution_record(encode_checkpoint(checkpoint)) == checkpoint
    with pytest.raises(ValidationError):
        decode_execution_record(orjson.dumps({"nonsense": True}))


def test_the_store_forgets_finished_executions_but_remembers_recent_ids() -> None:
    store = InMemoryExecutions(remember_finished=2)
    only_trigger = spec([{"id": "trigger", "type": "webhook"}], [])
    run(store, *(at(TOPICS.webhooks, delivery(f"ex_{i}", only_trigger), i) for i in range(3)))
    assert store.count() == 0
    assert [store.exists(0, f"ex_{i}") for i in range(3)] == [False, True, True]
    store.drop(0)
    assert not store.exists(0, "ex_2") and not store.owns(0)


def test_the_resolver_renders_the_contract_expressions_with_now() -> None:
    resolve = resolver_at(NOW)
    context = {"input": {"x": 1}, "nodes": {}, "execution": {"id": "ex_1"}, "workflow": {"id": "wf", "version": 1}}
    assert resolve({"s": "{{ $input.seconds }}", "at": "{{ $now }}"}, context, {"seconds": 3}) == {
        "s": 3,
        "at": "2026-11-27T12:00:00Z",
    }
