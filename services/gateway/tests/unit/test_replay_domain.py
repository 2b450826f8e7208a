"""Replay planning: reading the original from its events, ancestors of a node, reused outputs, the definition."""

from __future__ import annotations

from typing import Any

import pytest

from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_gateway.domain.connectors import SharedCatalog
from flowmatic_gateway.domain.replay import (
    BulkReplayRequest,
    LatestWorkflow,
    OriginalExecution,
    RecordedOutput,
    ReplayError,
    ReplayRequest,
    ancestors,
    original_from_events,
    parse_request,
    plan_replay,
)

IS_TRIGGER = SharedCatalog().is_trigger

# trigger → shape → check ─true→ yes → merge
#                         └false→ no ──┘      and trigger → side (a branch of its own)
SPEC = WorkflowSpec.model_validate(
    {
        "name": "orders",
        "nodes": [
            {"id": "trigger", "type": "webhook"},
            {"id": "shape", "type": "set"},
            {"id": "check", "type": "if"},
            {"id": "yes", "type": "noop"},
            {"id": "no", "type": "noop"},
            {"id": "merge", "type": "noop"},
            {"id": "side", "type": "noop"},
        ],
        "connections": [
            {"from": "trigger", "to": "shape"},
            {"from": "shape", "to": "check"},
            {"from": "check", "to": "yes", "output": "true"},
            {"from": "check", "to": "no", "output": "false"},
            {"from": "yes", "to": "merge"},
            {"from": "no", "to": "merge"},
            {"from": "trigger", "to": "side"},
        ],
    }
)
INPUT = {"body": {"amount": 5}, "_webhook": {"method": "POST", "headers": {"x-a": "1"}}}


def event(kind: str, sequence: int, **payload: Any) -> dict[str, Any]:
    return {"id": f"msg_{sequence}", "type": kind, "sequence": sequence, "payload": payload}


def history(*, finished: bool = True) -> list[dict[str, Any]]:
    events = [
        event(
            "ExecutionStarted",
            1,
            workflowId="wf_1",
            workflowVersion=3,
            mode="webhook",
            triggerId="trigger",
            input=INPUT,
            spec=SPEC.model_dump(mode="json", by_alias=True),
            replayOf=None,
            reusedOutputs={},
        ),
        event("StepSucceeded", 2, nodeId="trigger", attempt=1, output=INPUT, outputName="main"),
        event("StepScheduled", 3, nodeId="shape", nodeType="set", attempt=1, input=INPUT),
        event("StepScheduled", 4, nodeId="side", nodeType="noop", attempt=1, input=INPUT),
        event("StepSucceeded", 5, nodeId="shape", attempt=1, output={"amount": 5}, outputName="main"),
        event("StepSucceeded", 6, nodeId="side", attempt=1, output="side", outputName="main"),
        event("StepSucceeded", 7, nodeId="check", attempt=1, output={"amount": 5}, outputName="false"),
        event("StepSkipped", 8, nodeId="yes"),
        event("StepSucceeded", 9, nodeId="no", attempt=2, output={"no": True}, outputName="main"),
        event("StepSucceeded", 10, nodeId="merge", attempt=1, output={"done": 1}, outputName="main"),
    ]
    if finished:
        events.append(event("ExecutionSucceeded", 11, output={}))
    return events


def original(*, finished: bool = True) -> OriginalExecution:
    return original_from_events("ex_1", history(finished=finished))


def test_the_original_is_read_from_its_events() -> None:
    read = original()
    assert (read.execution_id, read.workflow_id, read.workflow_version, read.trigger_id) == (
        "ex_1",
        "wf_1",
        3,
        "trigger",
    )
    assert read.spec == SPEC and read.input == INPUT and read.finished
    assert read.outputs["check"] == RecordedOutput({"amount": 5}, "false")
    assert read.outputs["no"] == RecordedOutput({"no": True}, "main")
    assert "yes" not in read.outputs  # skipped: nothing recorded
    assert not original(finished=False).finished
    for final in ("ExecutionFailed", "ExecutionCancelled"):
        assert original_from_events("ex_1", [*history(finished=False), event(final, 11)]).finished


def test_a_history_without_a_start_is_refused() -> None:
    with pytest.raises(ValueError, match="no ExecutionStarted"):
        original_from_events("ex_1", history()[1:])


def test_ancestors_are_every_node_that_leads_to_the_node_and_nothing_else() -> None:
    assert ancestors(SPEC, "check") == {"trigger", "shape"}
    assert ancestors(SPEC, "merge") == {"trigger", "shape", "check", "yes", "no"}
    assert ancestors(SPEC, "side") == {"trigger"}
    assert ancestors(SPEC, "trigger") == set()
    looped = WorkflowSpec.model_validate(
        {
            "name": "loop",
            "nodes": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
            "connections": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
        }
    )
    assert ancestors(looped, "a") == {"b"}  # a cycle back to the node never counts it as its own ancestor


def test_a_whole_replay_runs_the_original_definition_with_the_original_input() -> None:
    command = plan_replay(original(), ReplayRequest(), None, IS_TRIGGER)
    assert command.mode == "replay" and command.replay_of == "ex_1"
    assert (command.workflow_id, command.workflow_version, command.spec) == ("wf_1", 3, SPEC)
    assert command.trigger_id == "trigger" and command.input == INPUT  # `_webhook` included
    assert command.reused_outputs == {}


def test_replaying_from_a_node_reuses_exactly_its_ancestors_outputs() -> None:
    command = plan_replay(original(), ReplayRequest(from_node="merge"), None, IS_TRIGGER)
    # Not the trigger (re-fired from the input), not `yes` (skipped, nothing recorded), not `side` (another
    # branch), not `merge` itself.
    assert command.reused_outputs == {
        "shape": {"output": {"amount": 5}, "outputName": "main"},
        "check": {"output": {"amount": 5}, "outputName": "false"},
        "no": {"output": {"no": True}, "outputName": "main"},
    }
    from_check = plan_replay(original(), ReplayRequest(from_node="check"), None, IS_TRIGGER)
    assert from_check.reused_outputs == {"shape": {"output": {"amount": 5}, "outputName": "main"}}


def test_latest_runs_the_current_definition_and_reuses_by_node_id() -> None:
    changed = SPEC.model_copy(update={"name": "orders v4"})
    command = plan_replay(
        original(), ReplayRequest(workflow_version="latest", from_node="check"), LatestWorkflow(4, changed), IS_TRIGGER
    )
    assert command.workflow_version == 4 and command.spec == changed and command.input == INPUT
    assert command.reused_outputs == {"shape": {"output": {"amount": 5}, "outputName": "main"}}


def refused(
    original_execution: OriginalExecution, request: ReplayRequest, latest: LatestWorkflow | None
) -> ReplayError:
    with pytest.raises(ReplayError) as caught:
        plan_replay(original_execution, request, latest, IS_TRIGGER)
    return caught.value


def test_what_cannot_be_replayed() -> None:
    assert refused(original(finished=False), ReplayRequest(), None).status == 409
    deleted = refused(original(), ReplayRequest(workflow_version="latest"), None)
    assert deleted.status == 409 and "deleted" in deleted.detail
    for node in ("ghost", "trigger"):
        error = refused(original(), ReplayRequest(from_node=node), None)
        assert error.status == 422 and error.errors is not None and error.errors[0].path == "fromNode"
    # fromNode is checked against the chosen definition: `side` is gone from the latest one.
    latest = SPEC.model_copy(update={"nodes": [n for n in SPEC.nodes if n.id != "side"], "connections": []})
    gone = refused(original(), ReplayRequest(workflow_version="latest", from_node="side"), LatestWorkflow(4, latest))
    assert gone.status == 422
    no_trigger = SPEC.model_copy(update={"nodes": [n for n in SPEC.nodes if n.id != "trigger"]})
    error = refused(original(), ReplayRequest(workflow_version="latest"), LatestWorkflow(4, no_trigger))
    assert error.status == 422 and error.errors is not None and error.errors[0].path == "workflowVersion"


def test_request_bodies_are_validated_with_field_paths() -> None:
    assert parse_request(ReplayRequest, {}) == ReplayRequest()
    assert parse_request(ReplayRequest, {"workflowVersion": "latest", "fromNode": "x"}) == ReplayRequest(
        workflow_version="latest", from_node="x"
    )
    bulk = parse_request(BulkReplayRequest, {"workflowId": "wf_1", "status": "FAILED", "dryRun": True})
    assert bulk.dry_run and bulk.list_filters() == {"workflowId": "wf_1", "status": "FAILED"}
    for model, body, path in [
        (ReplayRequest, {"workflowVersion": "newest"}, "workflowVersion"),
        (ReplayRequest, {"fromNode": 7}, "fromNode"),
        (ReplayRequest, {"surprise": 1}, "surprise"),
        (BulkReplayRequest, {}, "workflowId"),
        (BulkReplayRequest, {"workflowId": "wf_1", "status": "RUNNING"}, "status"),
        (BulkReplayRequest, {"workflowId": "wf_1", "dryRun": "maybe"}, "dryRun"),
    ]:
        with pytest.raises(ReplayError) as caught:
            parse_request(model, body)  # type: ignore[arg-type]
        assert caught.value.status == 422 and caught.value.errors is not None
        assert [e.path for e in caught.value.errors] == [path], caught.value.errors
    with pytest.raises(ReplayError):
        parse_request(ReplayRequest, ["not", "an", "object"])
