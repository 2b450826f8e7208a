"""The public execution documents: what `GET /api/v1/executions[/{id}]` return, rendered from stored rows.

Field order follows the spec: id, workflowId, workflowVersion, status, mode, triggerId, (replayOf when set),
input, output, error, startedAt, finishedAt, steps. A summary is the same less input, output and steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowmatic_query.domain.timestamps import format_timestamp

EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")

Document = dict[str, Any]


@dataclass(frozen=True)
class StepRecord:
    """One node's latest state in one execution, as stored."""

    node_id: str
    type: str
    status: str
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    output: Any
    error: Any


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution as stored. A summary read leaves `input`, `output` and `steps` out (None, empty)."""

    id: str
    workflow_id: str
    workflow_version: int
    status: str
    mode: str
    trigger_id: str
    replay_of: str | None
    error: Any
    started_at: datetime
    finished_at: datetime | None
    input: Any = None
    output: Any = None
    steps: tuple[StepRecord, ...] = ()


def _optional_timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _head(record: ExecutionRecord) -> Document:
    head: Document = {
        "id": record.id,
        "workflowId": record.workflow_id,
        "workflowVersion": record.workflow_version,
        "status": record.status,
        "mode": record.mode,
        "triggerId": record.trigger_id,
    }
    if record.replay_of is not None:
        head["replayOf"] = record.replay_of
    return head


def _tail(record: ExecutionRecord) -> Document:
    return {
        "error": record.error,
        "startedAt": format_timestamp(record.started_at),
        "finishedAt": _optional_timestamp(record.finished_at),
    }


def render_step(step: StepRecord) -> Document:
    """A step as the spec lists it."""
    return {
        "nodeId": step.node_id,
        "type": step.type,
        "status": step.status,
        "attempt": step.attempt,
        "startedAt": _optional_timestamp(step.started_at),
        "finishedAt": _optional_timestamp(step.finished_at),
        "output": step.output,
        "error": step.error,
    }


def render_execution(record: ExecutionRecord) -> Document:
    """The execution with its input, output and steps (in the order they were first reached)."""
    return {
        **_head(record),
        "input": record.input,
        "output": record.output,
        **_tail(record),
        "steps": [render_step(step) for step in record.steps],
    }


def render_execution_summary(record: ExecutionRecord) -> Document:
    """An item of the execution list: everything but input, output and steps."""
    return {**_head(record), **_tail(record)}
