"""Execution events as the gateway and the orchestrator write them, for tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import Actor, Envelope, Payload, new_envelope
from flowmatic_contracts.events import (
    ExecutionCancelled,
    ExecutionError,
    ExecutionFailed,
    ExecutionStarted,
    ExecutionSucceeded,
    ResponseProduced,
    StepError,
    StepFailed,
    StepScheduled,
    StepSkipped,
    StepSucceeded,
    WebhookReceived,
)
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_query.testing.envelopes import T0

SYSTEM_ACTOR = Actor(kind="system", id="flowmatic")


def branching_spec() -> WorkflowSpec:
    """trigger (webhook) → check (if) → yes / no (noop)."""
    return WorkflowSpec.model_validate(
        {
            "name": "branching",
            "nodes": [
                {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"]}},
                {"id": "check", "type": "if", "parameters": {"conditions": []}},
                {"id": "yes", "type": "noop"},
                {"id": "no", "type": "noop"},
            ],
            "connections": [
                {"from": "trigger", "to": "check"},
                {"from": "check", "to": "yes", "output": "true"},
                {"from": "check", "to": "no", "output": "false"},
            ],
        }
    )


class ExecutionHistory:
    """One execution's events, numbered 1, 2, ... and one second apart from `start` (WebhookReceived: 0, at start).

    Each method returns the next envelope; write WebhookReceived to the `webhooks` topic, the rest to
    `execution-events`."""

    def __init__(
        self,
        workflow_id: str,
        *,
        execution_id: str | None = None,
        workflow_version: int = 1,
        start: datetime = T0,
        spec: WorkflowSpec | None = None,
    ) -> None:
        self.execution_id = execution_id or ids.new_id(ids.EXECUTION)
        self.workflow_id = workflow_id
        self.workflow_version = workflow_version
        self.start = start
        self.spec = spec or branching_spec()
        self.sequence = 0

    def at(self, sequence: int) -> datetime:
        """When the event numbered `sequence` occurred."""
        return self.start + timedelta(seconds=sequence)

    def _next(self, payload: Payload) -> Envelope:
        self.sequence += 1
        return new_envelope(
            payload,
            aggregate_id=self.execution_id,
            actor=SYSTEM_ACTOR,
            sequence=self.sequence,
            occurred_at=self.at(self.sequence),
        )

    def webhook_received(self, payload: dict[str, Any], *, trigger_id: str = "trigger") -> Envelope:
        """The gateway's delivery record (sequence 0, at `start`)."""
        received = WebhookReceived(
            webhook_id=f"wh_{self.workflow_id}",
            workflow_id=self.workflow_id,
            workflow_version=self.workflow_version,
            trigger_id=trigger_id,
            payload=payload,
            spec=self.spec,
        )
        actor = Actor(kind="webhook", id=f"wh_{self.workflow_id}")
        return new_envelope(received, aggregate_id=self.execution_id, actor=actor, occurred_at=self.start)

    def started(
        self,
        input_value: Any,
        *,
        mode: Literal["webhook", "manual", "replay"] = "webhook",
        trigger_id: str = "trigger",
        replay_of: str | None = None,
    ) -> Envelope:
        return self._next(
            ExecutionStarted(
                workflow_id=self.workflow_id,
                workflow_version=self.workflow_version,
                mode=mode,
                trigger_id=trigger_id,
                input=input_value,
                spec=self.spec,
                replay_of=replay_of,
            )
        )

    def scheduled(self, node_id: str, *, attempt: int = 1, not_before: str | None = None) -> Envelope:
        node = self.spec.node(node_id)
        node_type = node.type if node is not None else "unknown"
        return self._next(StepScheduled(node_id=node_id, node_type=node_type, attempt=attempt, not_before=not_before))

    def step_succeeded(self, node_id: str, output: Any, *, attempt: int = 1, output_name: str = "main") -> Envelope:
        return self._next(StepSucceeded(node_id=node_id, attempt=attempt, output=output, output_name=output_name))

    def step_failed(self, node_id: str, message: str, *, attempt: int = 1, retryable: bool = False) -> Envelope:
        error = StepError(message=message, retryable=retryable)
        return self._next(StepFailed(node_id=node_id, attempt=attempt, error=error))

    def skipped(self, node_id: str) -> Envelope:
        return self._next(StepSkipped(node_id=node_id))

    def succeeded(self, output: Any) -> Envelope:
        return self._next(ExecutionSucceeded(output=output))

    def failed(self, node_id: str | None, message: str) -> Envelope:
        return self._next(ExecutionFailed(error=ExecutionError(node_id=node_id, message=message)))

    def cancelled(self, reason: str) -> Envelope:
        return self._next(ExecutionCancelled(reason=reason))

    def response(self, node_id: str, body: Any) -> Envelope:
        return self._next(ResponseProduced(node_id=node_id, status_code=200, body=body))

    def happy_path(self, input_value: Any) -> list[Envelope]:
        """ExecutionStarted to ExecutionSucceeded through the `true` branch, as the orchestrator emits it."""
        return [
            self.started(input_value),
            self.step_succeeded("trigger", input_value),
            self.scheduled("check"),
            self.step_succeeded("check", input_value, output_name="true"),
            self.scheduled("yes"),
            self.skipped("no"),
            self.step_succeeded("yes", input_value),
            self.succeeded({"yes": input_value}),
        ]
