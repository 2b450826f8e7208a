"""The execution aggregate's decisions: scheduling, branches, joins, skips, retries, delays, completion."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flowmatic_contracts.envelope import Payload
from flowmatic_contracts.events import (
    ExecutionFailed,
    ExecutionStarted,
    ExecutionSucceeded,
    ResponseProduced,
    StepError,
    StepFailed,
    StepScheduled,
    StepSkipped,
    StepSucceeded,
)
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_orchestrator.domain.execution import (
    Decision,
    ExecutionState,
    decide_start,
    decide_step_result,
    decide_timer,
    due_timers,
    evolve,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def resolve(value: Any, context: Mapping[str, Any], node_input: Any) -> Any:
    """A stand-in for expression rendering: `{{seconds}}` reads the node input, everything else is literal."""
    if value == "{{seconds}}":
        return node_input["seconds"]
    if isinstance(value, dict):
        return {k: resolve(v, context, node_input) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{{"):
        raise ValueError(f"cannot resolve {value}")
    return value


def spec(nodes: list[Any], connections: list[Any]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "t", "nodes": nodes, "connections": connections})


def chain(*ids: str) -> list[dict[str, str]]:
    return [{"from": a, "to": b} for a, b in itertools.pairwise(ids)]


def start(
    workflow: WorkflowSpec, payload: Any = None, trigger: str = "trigger", **extra: Any
) -> tuple[ExecutionState, Decision]:
    started = ExecutionStarted(
        workflow_id="wf",
        workflow_version=1,
        mode="webhook",
        trigger_id=trigger,
        input=payload or {"n": 1},
        spec=workflow,
        **extra,
    )
    decision = decide_start("ex_1", started, NOW, resolve)
    return fold(None, decision.events), decision


def fold(state: ExecutionState | None, events: list[Payload]) -> ExecutionState:
    for event in events:
        state = evolve(state, "ex_1", event)
    assert state is not None
    return state


def succeed(
    state: ExecutionState, node: str, output: Any = None, name: str = "main", attempt: int = 1
) -> tuple[ExecutionState, Decision]:
    decision = decide_step_result(
        state, StepSucceeded(node_id=node, attempt=attempt, output=output, output_name=name), NOW, resolve
    )
    return fold(state, decision.events), decision


def fail(
    state: ExecutionState, node: str, retryable: bool, attempt: int = 1, now: datetime = NOW
) -> tuple[ExecutionState, Decision]:
    result = StepFailed(node_id=node, attempt=attempt, error=StepError(message="boom", retryable=retryable))
    decision = decide_step_result(state, result, now, resolve)
    return fold(state, decision.events), decision


def types(decision: Decision) -> list[str]:
    return [e.message_type for e in decision.events]


def test_start_records_trigger_output_and_requests_the_next_node() -> None:
    state, decision = start(
        spec([{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "noop"}], chain("trigger", "a"))
    )
    assert types(decision) == ["ExecutionStarted", "StepSucceeded", "StepScheduled"]
    assert state.steps["trigger"].output == {"n": 1}
    [request] = decision.requests
    assert (request.node_id, request.attempt, request.input) == ("a", 1, {"n": 1})
    assert request.context["input"] == {"n": 1} and request.context["nodes"] == {"trigger": {"n": 1}}
    assert request.context["execution"] == {"id": "ex_1"} and request.context["workflow"] == {"id": "wf", "version": 1}
    assert state.steps["a"].status == "RUNNING" and state.sequence == 3


def test_linear_chain_succeeds_with_the_last_output() -> None:
    state, _ = start(
        spec(
            [{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "set"}, {"id": "b", "type": "set"}],
            chain("trigger", "a", "b"),
        )
    )
    state, decision = succeed(state, "a", {"x": 1})
    assert [r.node_id for r in decision.requests] == ["b"] and decision.requests[0].input == {"x": 1}
    state, decision = succeed(state, "b", {"y": 2})
    assert isinstance(decision.events[-1], ExecutionSucceeded)
    assert decision.events[-1].output == {"b": {"y": 2}}
    assert state.status == "SUCCEEDED"


def test_if_branch_skips_the_branch_not_taken_and_everything_only_it_reaches() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "check", "type": "if"},
        {"id": "yes", "type": "noop"},
        {"id": "no", "type": "noop"},
        {"id": "after_no", "type": "noop"},
    ]
    connections = [
        *chain("trigger", "check"),
        {"from": "check", "output": "true", "to": "yes"},
        {"from": "check", "output": "false", "to": "no"},
        {"from": "no", "to": "after_no"},
    ]
    state, _ = start(spec(nodes, connections))
    state, decision = succeed(state, "check", {"n": 1}, name="true")
    assert [r.node_id for r in decision.requests] == ["yes"]
    assert state.steps["no"].status == "SKIPPED" and state.steps["after_no"].status == "SKIPPED"
    state, decision = succeed(state, "yes", {"n": 1})
    assert state.status == "SUCCEEDED"


def test_join_waits_for_every_predecessor_and_gets_an_object_of_those_that_ran() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "a", "type": "set"},
        {"id": "b", "type": "set"},
        {"id": "gate", "type": "if"},
        {"id": "c", "type": "set"},
        {"id": "join", "type": "noop"},
    ]
    connections = [
        {"from": "trigger", "to": "a"},
        {"from": "trigger", "to": "b"},
        {"from": "trigger", "to": "gate"},
        {"from": "gate", "output": "true", "to": "c"},
        {"from": "a", "to": "join"},
        {"from": "b", "to": "join"},
        {"from": "c", "to": "join"},
    ]
    state, decision = start(spec(nodes, connections))
    assert sorted(r.node_id for r in decision.requests) == ["a", "b", "gate"]
    state, decision = succeed(state, "a", "A")
    assert decision.requests == []
    state, decision = succeed(state, "gate", {}, name="false")
    assert state.steps["c"].status == "SKIPPED" and decision.requests == []
    state, decision = succeed(state, "b", "B")
    [request] = decision.requests
    assert request.node_id == "join" and request.input == {"a": "A", "b": "B"}


def test_other_triggers_and_their_branches_are_skipped() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "manual", "type": "manual"},
        {"id": "m", "type": "noop"},
        {"id": "w", "type": "noop"},
    ]
    state, decision = start(spec(nodes, [*chain("manual", "m"), *chain("trigger", "w")]))
    assert state.steps["manual"].status == "SKIPPED" and state.steps["m"].status == "SKIPPED"
    assert [r.node_id for r in decision.requests] == ["w"]


def test_unknown_trigger_fails_the_execution() -> None:
    state, decision = start(spec([{"id": "trigger", "type": "webhook"}], []), trigger="ghost")
    assert isinstance(decision.events[-1], ExecutionFailed) and state.status == "FAILED"


def test_workflow_of_only_a_trigger_succeeds_at_once() -> None:
    state, decision = start(spec([{"id": "trigger", "type": "webhook"}], []))
    assert types(decision)[-1] == "ExecutionSucceeded" and state.status == "SUCCEEDED"


def test_retryable_failure_is_retried_with_doubling_backoff_then_fails() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "call", "type": "http_request", "retry": {"maxAttempts": 3, "backoffSeconds": 2}},
    ]
    state, _ = start(spec(nodes, chain("trigger", "call")))
    state, decision = fail(state, "call", retryable=True)
    assert types(decision) == ["StepFailed", "StepScheduled"] and decision.requests == []
    assert state.steps["call"].status == "SCHEDULED" and state.steps["call"].attempt == 2
    assert due_timers(state) == [(NOW + timedelta(seconds=2), "call")]
    assert decide_timer(state, "call", NOW, resolve) == Decision([], [])  # not due yet
    later = NOW + timedelta(seconds=2)
    decision = decide_timer(state, "call", later, resolve)
    state = fold(state, decision.events)
    assert [(r.node_id, r.attempt, r.input) for r in decision.requests] == [("call", 2, {"n": 1})]
    state, decision = fail(state, "call", retryable=True, attempt=2, now=later)
    assert due_timers(state) == [(later + timedelta(seconds=4), "call")]  # doubled
    state = fold(state, decide_timer(state, "call", later + timedelta(seconds=4), resolve).events)
    state, decision = fail(state, "call", retryable=True, attempt=3)
    assert isinstance(decision.events[-1], ExecutionFailed)
    assert decision.events[-1].error.node_id == "call" and decision.events[-1].error.message == "boom"
    assert state.steps["call"].attempt == 3 and state.status == "FAILED"


def test_zero_backoff_retries_immediately() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "call", "type": "http_request", "retry": {"maxAttempts": 2, "backoffSeconds": 0}},
    ]
    state, _ = start(spec(nodes, chain("trigger", "call")))
    state, decision = fail(state, "call", retryable=True)
    assert [(r.node_id, r.attempt) for r in decision.requests] == [("call", 2)]


def test_non_retryable_failure_fails_at_once_even_with_a_retry_policy() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "stop", "type": "fail", "retry": {"maxAttempts": 5, "backoffSeconds": 0}},
    ]
    state, _ = start(spec(nodes, chain("trigger", "stop")))
    state, decision = fail(state, "stop", retryable=False)
    assert types(decision) == ["StepFailed", "ExecutionFailed"] and state.steps["stop"].attempt == 1


def test_duplicate_and_stale_results_change_nothing() -> None:
    state, _ = start(
        spec(
            [{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
            chain("trigger", "a", "b"),
        )
    )
    state, _ = succeed(state, "a", 1)
    _, again = succeed(state, "a", 1)
    assert again == Decision([], [])
    _, wrong_attempt = succeed(state, "b", 1, attempt=2)
    assert wrong_attempt == Decision([], [])
    assert decide_step_result(None, StepSucceeded(node_id="a", attempt=1, output=1), NOW, resolve) == Decision([], [])


def test_results_after_failure_are_ignored() -> None:
    nodes = [{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "noop"}, {"id": "b", "type": "fail"}]
    state, _ = start(spec(nodes, [*chain("trigger", "a"), *chain("trigger", "b")]))
    state, _ = fail(state, "b", retryable=False)
    _, late = succeed(state, "a", 1)
    assert late == Decision([], []) and state.status == "FAILED"


def test_delay_is_a_timer_not_an_executor_step() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "pause", "type": "delay", "parameters": {"seconds": 5}},
        {"id": "after", "type": "noop"},
    ]
    state, decision = start(spec(nodes, chain("trigger", "pause", "after")))
    assert decision.requests == [] and state.steps["pause"].status == "SCHEDULED"
    assert due_timers(state) == [(NOW + timedelta(seconds=5), "pause")]
    decision = decide_timer(state, "pause", NOW + timedelta(seconds=5), resolve)
    state = fold(state, decision.events)
    assert state.steps["pause"].status == "SUCCEEDED" and state.steps["pause"].output == {"n": 1}
    assert [r.node_id for r in decision.requests] == ["after"]


def test_delay_seconds_from_an_expression_and_bad_seconds_fail_the_node() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "pause", "type": "delay", "parameters": {"seconds": "{{seconds}}"}},
    ]
    state, _ = start(spec(nodes, chain("trigger", "pause")), payload={"seconds": 3})
    assert due_timers(state) == [(NOW + timedelta(seconds=3), "pause")]
    state, decision = start(spec(nodes, chain("trigger", "pause")), payload={"seconds": "soon"})
    assert state.status == "FAILED" and state.steps["pause"].status == "FAILED"
    assert isinstance(decision.events[-1], ExecutionFailed) and "soon" in decision.events[-1].error.message


def test_zero_delay_completes_at_once() -> None:
    nodes = [{"id": "trigger", "type": "webhook"}, {"id": "pause", "type": "delay", "parameters": {"seconds": 0}}]
    state, _ = start(spec(nodes, chain("trigger", "pause")))
    assert state.status == "SUCCEEDED"


def test_response_node_produces_the_response() -> None:
    nodes = [{"id": "trigger", "type": "webhook"}, {"id": "reply", "type": "response"}]
    state, _ = start(spec(nodes, chain("trigger", "reply")))
    output = {"statusCode": 201, "headers": {"x-a": "1"}, "body": {"ok": True}}
    state, decision = succeed(state, "reply", output)
    response = next(e for e in decision.events if isinstance(e, ResponseProduced))
    assert (response.status_code, response.headers, response.body) == (201, {"x-a": "1"}, {"ok": True})
    assert state.status == "SUCCEEDED"


def test_replay_from_a_node_reuses_recorded_outputs() -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "check", "type": "if"},
        {"id": "yes", "type": "noop"},
        {"id": "no", "type": "noop"},
    ]
    connections = [
        *chain("trigger", "check"),
        {"from": "check", "output": "true", "to": "yes"},
        {"from": "check", "output": "false", "to": "no"},
    ]
    state, decision = start(
        spec(nodes, connections), reused_outputs={"check": {"output": {"k": 1}, "outputName": "false"}}
    )
    assert [r.node_id for r in decision.requests] == ["no"] and state.steps["yes"].status == "SKIPPED"
    assert state.steps["check"].output == {"k": 1}


def test_sequence_counts_every_event() -> None:
    state, decision = start(
        spec([{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "noop"}], chain("trigger", "a"))
    )
    assert state.sequence == len(decision.events)


@pytest.mark.parametrize("event", [StepSkipped(node_id="a"), StepScheduled(node_id="a", node_type="noop", attempt=1)])
def test_events_before_start_are_refused(event: Payload) -> None:
    with pytest.raises(ValueError, match="before ExecutionStarted"):
        evolve(None, "ex_1", event)
