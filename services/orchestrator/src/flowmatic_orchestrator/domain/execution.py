"""The execution aggregate: what happens when an execution starts, a step reports back, or a timer is due.

Pure and synchronous: the clock (`now`) and expression evaluation (`resolve`) are passed in. Each `decide_*`
returns the events to append to the execution's history, in order, and the `StepRequested` work for executors;
`evolve` folds one event into the state. The processor (entrypoints) does the Kafka side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from flowmatic_contracts.envelope import Payload
from flowmatic_contracts.events import (
    ExecutionCancelled,
    ExecutionError,
    ExecutionFailed,
    ExecutionStarted,
    ExecutionSucceeded,
    ResponseProduced,
    StepError,
    StepFailed,
    StepRequested,
    StepScheduled,
    StepSkipped,
    StepSucceeded,
)
from flowmatic_contracts.workflow import TRIGGER_TYPES, NodeSpec, WorkflowSpec

StepStatus = Literal["SCHEDULED", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED"]
ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]

# (value with templates, expression context, the node's $input) -> resolved value; raises on a bad expression
Resolver = Callable[[Any, Mapping[str, Any], Any], Any]

MAX_DELAY_SECONDS = 30 * 24 * 3600


class StepState(BaseModel):
    model_config = ConfigDict(frozen=True)

    node_id: str
    node_type: str
    status: StepStatus
    attempt: int = 1
    input: Any = None
    output: Any = None
    output_name: str = "main"
    not_before: datetime | None = None


class ExecutionState(BaseModel):
    """Everything needed to decide the next step; also the snapshot kept on the compacted state topic.

    `last_event_hash` is the hash of the wire bytes of the execution's latest event, the next event's
    `previousHash` (see `domain.chain`); None before the first event and in snapshots older than the chain.
    """

    model_config = ConfigDict(frozen=True)

    execution_id: str
    workflow_id: str
    workflow_version: int
    spec: WorkflowSpec
    trigger_id: str
    input: Any
    status: ExecutionStatus = "RUNNING"
    sequence: int = 0
    steps: dict[str, StepState] = {}
    last_event_hash: str | None = None

    @property
    def finished(self) -> bool:
        return self.status != "RUNNING"


class Decision(NamedTuple):
    events: list[Payload]
    requests: list[StepRequested]


NOTHING = Decision([], [])


# ---- evolve ---------------------------------------------------------------------------------------------------


def evolve(state: ExecutionState | None, execution_id: str, event: Payload) -> ExecutionState:
    """Fold one execution event into the state (the first must be ExecutionStarted)."""
    if isinstance(event, ExecutionStarted):
        return ExecutionState(
            execution_id=execution_id,
            workflow_id=event.workflow_id,
            workflow_version=event.workflow_version,
            spec=event.spec,
            trigger_id=event.trigger_id,
            input=event.input,
            sequence=1,
        )
    if state is None:
        raise ValueError(f"{event.message_type} before ExecutionStarted for {execution_id}")
    bumped = state.sequence + 1
    if isinstance(event, StepScheduled):
        step = StepState(
            node_id=event.node_id,
            node_type=event.node_type,
            status="SCHEDULED" if event.not_before else "RUNNING",
            attempt=event.attempt,
            input=event.input,
            not_before=datetime.fromisoformat(event.not_before) if event.not_before else None,
        )
        return _with_step(state, step, bumped)
    if isinstance(event, StepSucceeded):
        previous = state.steps.get(event.node_id)
        step = StepState(
            node_id=event.node_id,
            node_type=previous.node_type if previous else _node_type(state.spec, event.node_id),
            status="SUCCEEDED",
            attempt=event.attempt,
            input=previous.input if previous else None,
            output=event.output,
            output_name=event.output_name,
        )
        return _with_step(state, step, bumped)
    if isinstance(event, StepFailed):
        previous = state.steps.get(event.node_id)
        step = StepState(
            node_id=event.node_id,
            node_type=previous.node_type if previous else _node_type(state.spec, event.node_id),
            status="FAILED",
            attempt=event.attempt,
            input=previous.input if previous else None,
        )
        return _with_step(state, step, bumped)
    if isinstance(event, StepSkipped):
        step = StepState(node_id=event.node_id, node_type=_node_type(state.spec, event.node_id), status="SKIPPED")
        return _with_step(state, step, bumped)
    if isinstance(event, ExecutionSucceeded):
        return state.model_copy(update={"status": "SUCCEEDED", "sequence": bumped})
    if isinstance(event, ExecutionFailed):
        return state.model_copy(update={"status": "FAILED", "sequence": bumped})
    if isinstance(event, ExecutionCancelled):
        return state.model_copy(update={"status": "CANCELLED", "sequence": bumped})
    # ResponseProduced and anything else only advance the sequence
    return state.model_copy(update={"sequence": bumped})


def _with_step(state: ExecutionState, step: StepState, sequence: int) -> ExecutionState:
    return state.model_copy(update={"steps": {**state.steps, step.node_id: step}, "sequence": sequence})


def _node_type(spec: WorkflowSpec, node_id: str) -> str:
    node = spec.node(node_id)
    return node.type if node else "unknown"


# ---- decide ---------------------------------------------------------------------------------------------------


class _Builder:
    """Accumulates events while keeping a working state, so each decision sees the effect of the previous."""

    def __init__(self, state: ExecutionState | None, execution_id: str) -> None:
        self.state = state
        self.execution_id = execution_id
        self.events: list[Payload] = []
        self.requests: list[StepRequested] = []

    def emit(self, event: Payload) -> ExecutionState:
        self.state = evolve(self.state, self.execution_id, event)
        self.events.append(event)
        return self.state

    def decision(self) -> Decision:
        return Decision(self.events, self.requests)


def decide_start(execution_id: str, started: ExecutionStarted, now: datetime, resolve: Resolver) -> Decision:
    """Start an execution: the chosen trigger succeeds with the input, other triggers are skipped, and every
    node that is then ready is scheduled. Recorded outputs (replay from a node) are reused, not run again."""
    build = _Builder(None, execution_id)
    state = build.emit(started)
    trigger = state.spec.node(started.trigger_id)
    if trigger is None or trigger.type not in TRIGGER_TYPES:
        build.emit(
            ExecutionFailed(
                error=ExecutionError(node_id=started.trigger_id, message=f"no trigger node {started.trigger_id!r}")
            )
        )
        return build.decision()
    build.emit(StepSucceeded(node_id=trigger.id, attempt=1, output=started.input))
    for node in state.spec.nodes:
        if node.type in TRIGGER_TYPES and node.id != trigger.id:
            build.emit(StepSkipped(node_id=node.id))
    for node_id, recorded in started.reused_outputs.items():
        if state.spec.node(node_id) is not None and node_id not in state.steps:
            output, output_name = _recorded(recorded)
            build.emit(StepSucceeded(node_id=node_id, attempt=1, output=output, output_name=output_name))
    _advance(build, now, resolve)
    return build.decision()


def _recorded(recorded: Any) -> tuple[Any, str]:
    if isinstance(recorded, dict) and "output" in recorded:
        return recorded["output"], str(recorded.get("outputName") or "main")
    return recorded, "main"


def decide_step_result(
    state: ExecutionState | None, result: StepSucceeded | StepFailed, now: datetime, resolve: Resolver
) -> Decision:
    """An executor reported an attempt. Stale or duplicate reports (wrong attempt, step not running, execution
    finished) change nothing, so at-least-once delivery of results is harmless."""
    if state is None or state.finished:
        return NOTHING
    step = state.steps.get(result.node_id)
    if step is None or step.status != "RUNNING" or step.attempt != result.attempt:
        return NOTHING
    build = _Builder(state, state.execution_id)
    if isinstance(result, StepSucceeded):
        build.emit(result)
        if step.node_type == "response":
            build.emit(_response_of(result))
        _advance(build, now, resolve)
        return build.decision()
    node = state.spec.node(result.node_id)
    policy = node.retry if node else None
    max_attempts = policy.max_attempts if policy else 1
    build.emit(result)
    if result.error.retryable and result.attempt < max_attempts:
        backoff = (policy.backoff_seconds if policy else 0.0) * (2 ** (result.attempt - 1))
        _schedule_retry(build, step.node_id, step.node_type, result.attempt + 1, step.input, now, backoff)
        return build.decision()
    build.emit(ExecutionFailed(error=ExecutionError(node_id=result.node_id, message=result.error.message)))
    return build.decision()


def decide_timer(state: ExecutionState | None, node_id: str, now: datetime, resolve: Resolver) -> Decision:
    """A step's `notBefore` has passed: a delay completes, a retry is dispatched."""
    if state is None or state.finished:
        return NOTHING
    step = state.steps.get(node_id)
    if step is None or step.status != "SCHEDULED" or step.not_before is None or step.not_before > now:
        return NOTHING
    build = _Builder(state, state.execution_id)
    if step.node_type == "delay":
        build.emit(StepSucceeded(node_id=node_id, attempt=step.attempt, output=step.input))
        _advance(build, now, resolve)
    else:
        _dispatch(build, step.node_id, step.node_type, step.attempt, step.input)
    return build.decision()


def due_timers(state: ExecutionState) -> list[tuple[datetime, str]]:
    """(when, node id) of every step waiting for a time, for the processor's timer wheel."""
    if state.finished:
        return []
    return [
        (step.not_before, step.node_id)
        for step in state.steps.values()
        if step.status == "SCHEDULED" and step.not_before is not None
    ]


def _response_of(result: StepSucceeded) -> ResponseProduced:
    output = result.output if isinstance(result.output, dict) else {}
    status = output.get("statusCode", 200)
    headers = output.get("headers") or {}
    return ResponseProduced(
        node_id=result.node_id,
        status_code=status if isinstance(status, int) else 200,
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
        body=output.get("body"),
    )


# ---- scheduling ---------------------------------------------------------------------------------------------


def _advance(build: _Builder, now: datetime, resolve: Resolver) -> None:
    """Schedule every node whose predecessors have all finished, skip nodes no taken branch reaches, and end
    the execution when nothing is left to run. Repeats until nothing changes (skips propagate downstream)."""
    changed = True
    while changed and build.state is not None and not build.state.finished:
        changed = False
        state = build.state
        for node in state.spec.nodes:
            if node.id in state.steps or node.type in TRIGGER_TYPES:
                continue
            incoming = [c for c in state.spec.connections if c.to == node.id]
            predecessor_steps = [state.steps.get(c.from_) for c in incoming]
            if any(s is None or s.status not in ("SUCCEEDED", "SKIPPED") for s in predecessor_steps):
                continue
            taken = [
                c
                for c in incoming
                if state.steps[c.from_].status == "SUCCEEDED" and state.steps[c.from_].output_name == c.output
            ]
            changed = True
            if not taken:
                build.emit(StepSkipped(node_id=node.id))
                break
            node_input = _input_of(state, incoming, taken)
            _start_node(build, node, node_input, now, resolve)
            break
    _finish_if_done(build)


def _input_of(state: ExecutionState, incoming: list[Any], taken: list[Any]) -> Any:
    """One predecessor: its output. Several: an object keyed by the ids of those that ran."""
    if len({c.from_ for c in incoming}) == 1:
        return state.steps[taken[0].from_].output
    return {c.from_: state.steps[c.from_].output for c in taken}


def _start_node(build: _Builder, node: NodeSpec, node_input: Any, now: datetime, resolve: Resolver) -> None:
    if node.type != "delay":
        _dispatch(build, node.id, node.type, 1, node_input)
        return
    # A delay is a durable timer kept by the orchestrator itself (in its state snapshot): no executor involved.
    assert build.state is not None
    try:
        parameters = resolve(node.parameters, expression_context(build.state), node_input)
        seconds = _delay_seconds(parameters)
    except Exception as error:  # an expression or parameter error fails the node, never the processor
        build.emit(StepScheduled(node_id=node.id, node_type=node.type, attempt=1, input=node_input))
        build.emit(StepFailed(node_id=node.id, attempt=1, error=StepError(message=str(error))))
        build.emit(ExecutionFailed(error=ExecutionError(node_id=node.id, message=str(error))))
        return
    if seconds <= 0:
        build.emit(StepScheduled(node_id=node.id, node_type=node.type, attempt=1, input=node_input))
        build.emit(StepSucceeded(node_id=node.id, attempt=1, output=node_input))
        return
    not_before = (now + timedelta(seconds=seconds)).isoformat()
    build.emit(StepScheduled(node_id=node.id, node_type=node.type, attempt=1, input=node_input, not_before=not_before))


def _delay_seconds(parameters: Any) -> float:
    given = parameters.get("seconds") if isinstance(parameters, dict) else None
    seconds: Any = given
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            seconds = None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay seconds must be a number from 0 to {MAX_DELAY_SECONDS}, got {given!r}")
    return float(seconds)


def _schedule_retry(
    build: _Builder, node_id: str, node_type: str, attempt: int, node_input: Any, now: datetime, wait_seconds: float
) -> None:
    if wait_seconds <= 0:
        _dispatch(build, node_id, node_type, attempt, node_input)
        return
    not_before = (now + timedelta(seconds=wait_seconds)).isoformat()
    build.emit(
        StepScheduled(node_id=node_id, node_type=node_type, attempt=attempt, input=node_input, not_before=not_before)
    )


def _dispatch(build: _Builder, node_id: str, node_type: str, attempt: int, node_input: Any) -> None:
    state = build.emit(StepScheduled(node_id=node_id, node_type=node_type, attempt=attempt, input=node_input))
    node = state.spec.node(node_id)
    build.requests.append(
        StepRequested(
            execution_id=state.execution_id,
            workflow_id=state.workflow_id,
            workflow_version=state.workflow_version,
            node_id=node_id,
            node_type=node_type,
            attempt=attempt,
            parameters=node.parameters if node else {},
            input=node_input,
            context=expression_context(state),
            timeout_seconds=node.timeout_seconds if node else None,
        )
    )


def expression_context(state: ExecutionState) -> dict[str, Any]:
    """What expressions may read besides `$input`: the execution input, outputs so far, ids."""
    return {
        "input": state.input,
        "nodes": {s.node_id: s.output for s in state.steps.values() if s.status == "SUCCEEDED"},
        "execution": {"id": state.execution_id},
        "workflow": {"id": state.workflow_id, "version": state.workflow_version},
    }


def _finish_if_done(build: _Builder) -> None:
    state = build.state
    if state is None or state.finished:
        return
    if any(node.id not in state.steps for node in state.spec.nodes):
        return
    if any(step.status not in ("SUCCEEDED", "SKIPPED") for step in state.steps.values()):
        return
    # "the outputs of the last nodes that ran": nodes that succeeded and have no successor that did
    ran = {node_id for node_id, step in state.steps.items() if step.status == "SUCCEEDED"}
    sources = {c.from_ for c in state.spec.connections if c.to in ran}
    last = {
        node_id: step.output
        for node_id, step in state.steps.items()
        if step.status == "SUCCEEDED" and node_id not in sources
    }
    build.emit(ExecutionSucceeded(output=last))
