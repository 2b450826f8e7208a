"""Replay: what a new execution that re-runs a recorded one starts with. Pure; the route does the I/O.

An execution's history (`GET /api/v1/executions/{id}/events`, kept for good whatever the read models' retention)
says everything a replay needs: `ExecutionStarted` carries the definition that ran, its version, the trigger and
the input (`_webhook` included); each `StepSucceeded` carries a node's output and the output it took. A replay is
a `StartExecution` with `mode="replay"` and `replayOf`, on the original definition or the workflow's latest one;
replaying from a node reuses the recorded outputs of that node's ancestors, so they are not run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import WireModel
from flowmatic_contracts.events import FieldError
from flowmatic_contracts.workflow import WorkflowSpec

WorkflowVersionChoice = Literal["original", "latest"]
FINAL_EVENT_TYPES = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled"})
# Statuses a bulk replay may select: a RUNNING execution cannot be replayed.
REPLAYABLE_STATUSES = ("SUCCEEDED", "FAILED", "CANCELLED")
# The most executions one bulk replay call starts (or, dry, lists); a filter matching more is refused (422).
MAX_BULK_REPLAY = 1000


class ReplayError(ValueError):
    """A replay that cannot be started: the HTTP status to answer, why, and field errors for a 422."""

    def __init__(self, status: int, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


class ReplayRequest(WireModel):
    """The optional body of `POST /api/v1/executions/{id}/replay`."""

    workflow_version: WorkflowVersionChoice = "original"
    from_node: str | None = None


class BulkReplayRequest(WireModel):
    """The body of `POST /api/v1/executions/replay`: which executions of a workflow, and how to replay them."""

    workflow_id: str
    status: Literal["SUCCEEDED", "FAILED", "CANCELLED"] | None = None
    since: str | None = None
    until: str | None = None
    workflow_version: WorkflowVersionChoice = "original"
    dry_run: bool = False

    def list_filters(self) -> dict[str, str]:
        """The `GET /api/v1/executions` query parameters selecting the candidates."""
        given = {"workflowId": self.workflow_id, "status": self.status, "since": self.since, "until": self.until}
        return {name: value for name, value in given.items() if value is not None}


RequestModel = TypeVar("RequestModel", ReplayRequest, BulkReplayRequest)


def parse_request(model: type[RequestModel], body: Any) -> RequestModel:
    """Validate a JSON body against `model`; a ReplayError(422) naming each bad field otherwise."""
    if not isinstance(body, dict):
        raise ReplayError(422, "the body must be a JSON object", [FieldError(path="", message="expected an object")])
    try:
        return model.model_validate(body)
    except ValidationError as error:
        errors = [
            FieldError(path=".".join(str(part) for part in item["loc"]), message=item["msg"])
            for item in error.errors(include_url=False)
        ]
        raise ReplayError(422, "the replay request is invalid", errors) from None


@dataclass(frozen=True)
class RecordedOutput:
    """A node's recorded result: its output and which of its outputs (`main`, `true`, ...) it took."""

    output: Any
    output_name: str = "main"

    def as_reused(self) -> dict[str, Any]:
        """The form `StartExecution.reused_outputs` carries."""
        return {"output": self.output, "outputName": self.output_name}


@dataclass(frozen=True)
class OriginalExecution:
    """What a replay needs of a recorded execution, read from its history."""

    execution_id: str
    workflow_id: str
    workflow_version: int
    spec: WorkflowSpec
    trigger_id: str
    input: Any
    finished: bool
    outputs: dict[str, RecordedOutput] = field(default_factory=dict)


def original_from_events(execution_id: str, events: Iterable[Mapping[str, Any]]) -> OriginalExecution:
    """Fold an execution's events (as the events endpoint renders them, in order) into what a replay needs.

    Raises ValueError when the history has no `ExecutionStarted` or an unreadable one.
    """
    started: Mapping[str, Any] | None = None
    finished = False
    outputs: dict[str, RecordedOutput] = {}
    for event in events:
        kind = event.get("type")
        payload = event.get("payload")
        if not isinstance(payload, Mapping):
            continue
        if kind == "ExecutionStarted" and started is None:
            started = payload
        elif kind == "StepSucceeded" and isinstance(payload.get("nodeId"), str):
            # The latest success of a node is its recorded result (one per node; a later one would win).
            outputs[payload["nodeId"]] = RecordedOutput(payload.get("output"), str(payload.get("outputName") or "main"))
        elif kind in FINAL_EVENT_TYPES:
            finished = True
    if started is None:
        raise ValueError(f"execution {execution_id} has no ExecutionStarted event")
    return OriginalExecution(
        execution_id=execution_id,
        workflow_id=str(started["workflowId"]),
        workflow_version=int(started["workflowVersion"]),
        spec=WorkflowSpec.model_validate(started["spec"]),
        trigger_id=str(started["triggerId"]),
        input=started.get("input"),
        finished=finished,
        outputs=outputs,
    )


def ancestors(spec: WorkflowSpec, node_id: str) -> set[str]:
    """Every node from which `node_id` can be reached along connections (not `node_id` itself, unless a cycle
    leads back to it: the caller removes it anyway)."""
    predecessors: dict[str, set[str]] = {}
    for connection in spec.connections:
        predecessors.setdefault(connection.to, set()).add(connection.from_)
    found: set[str] = set()
    pending = [node_id]
    while pending:
        for before in predecessors.get(pending.pop(), set()):
            if before not in found:
                found.add(before)
                pending.append(before)
    found.discard(node_id)
    return found


@dataclass(frozen=True)
class LatestWorkflow:
    """The workflow's current definition (from the gateway's routing table)."""

    version: int
    spec: WorkflowSpec


def plan_replay(
    original: OriginalExecution,
    request: ReplayRequest,
    latest: LatestWorkflow | None,
    is_trigger: Callable[[str], bool],
) -> StartExecution:
    """The command that replays `original` as `request` asks.

    `latest` is required (and must be live) for `workflowVersion: "latest"`. Raises ReplayError: 409 for a
    running original or a deleted workflow on "latest"; 422 for a `fromNode` that is not a non-trigger node of
    the chosen definition, or a latest definition without the original's trigger.
    """
    if not original.finished:
        raise ReplayError(409, f"execution {original.execution_id} is still running; replay it once it has ended")
    if request.workflow_version == "latest":
        if latest is None:
            raise ReplayError(
                409,
                f"workflow {original.workflow_id} has been deleted, so it has no latest version;"
                ' replay on "original" instead',
            )
        version, spec = latest.version, latest.spec
    else:
        version, spec = original.workflow_version, original.spec
    trigger = spec.node(original.trigger_id)
    if trigger is None or not is_trigger(trigger.type):
        raise ReplayError(
            422,
            f"version {version} of workflow {original.workflow_id} has no trigger {original.trigger_id!r},"
            " which the original started from",
            [FieldError(path="workflowVersion", message=f"no trigger {original.trigger_id!r} in version {version}")],
        )
    reused: dict[str, Any] = {}
    if request.from_node is not None:
        node = spec.node(request.from_node)
        if node is None or is_trigger(node.type):
            what = "a trigger" if node is not None else "not a node"
            message = f"{request.from_node!r} is {what} of version {version} of workflow {original.workflow_id}"
            raise ReplayError(422, message, [FieldError(path="fromNode", message=message)])
        for node_id in sorted(ancestors(spec, request.from_node)):
            recorded = original.outputs.get(node_id)
            before = spec.node(node_id)
            # Triggers are re-fired from the input by the orchestrator; an ancestor without a recorded output
            # (it never ran in the original) simply runs.
            if recorded is not None and before is not None and not is_trigger(before.type):
                reused[node_id] = recorded.as_reused()
    return StartExecution(
        workflow_id=original.workflow_id,
        workflow_version=version,
        spec=spec,
        trigger_id=original.trigger_id,
        input=original.input,
        mode="replay",
        replay_of=original.execution_id,
        reused_outputs=reused,
    )
