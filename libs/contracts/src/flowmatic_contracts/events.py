"""Events: facts in the past tense. Workflow events are keyed by workflow id, execution events by execution
id; `sequence` in the envelope numbers each aggregate's events from 1 (a workflow's sequence is its version)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowmatic_contracts.envelope import Payload, WireModel, message
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec

# ---- workflows ---------------------------------------------------------------------------------------------


class _WorkflowWritten(Payload):
    spec: WorkflowSpec
    webhooks: list[WebhookBinding]
    # trigger id -> ciphertext of its secret; never the clear secret, never served by any API.
    encrypted_secrets: dict[str, str] = Field(default_factory=dict)


@message("WorkflowCreated", "event")
class WorkflowCreated(_WorkflowWritten):
    pass


@message("WorkflowUpdated", "event")
class WorkflowUpdated(_WorkflowWritten):
    pass


@message("WorkflowDeleted", "event")
class WorkflowDeleted(Payload):
    webhook_ids: list[str] = Field(default_factory=list)


# ---- command outcomes (to the waiting gateway) ----------------------------------------------------------------


class FieldError(WireModel):
    path: str
    message: str


@message("CommandAccepted", "event")
class CommandAccepted(Payload):
    """The orchestrator applied a command; `version` is the aggregate's sequence after it.

    `mode`: for StartExecution, the command's mode (manual | replay); None for other commands and older events."""

    command_id: str
    command_type: str
    aggregate_id: str
    version: int
    mode: str | None = None


@message("CommandRejected", "event")
class CommandRejected(Payload):
    """The orchestrator refused a command; `status` is the HTTP status the gateway answers with.

    `mode`: for StartExecution, the command's mode (manual | replay); None for other commands and older events."""

    command_id: str
    command_type: str
    aggregate_id: str
    status: int
    title: str
    detail: str
    errors: list[FieldError] = Field(default_factory=list)
    mode: str | None = None


# ---- webhook deliveries ----------------------------------------------------------------------------------------


@message("WebhookReceived", "event")
class WebhookReceived(Payload):
    """A delivery accepted by the gateway; the envelope's aggregateId is the execution id it starts."""

    webhook_id: str
    workflow_id: str
    workflow_version: int
    trigger_id: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    # the definition the gateway routed to (secrets stripped), so the execution is self-contained
    spec: WorkflowSpec


@message("WebhookRejected", "event")
class WebhookRejected(Payload):
    """A delivery to a known webhook that the gateway refused, for the audit log (topic `webhooks`, keyed by
    webhook id; the envelope's aggregateId is the webhook id). Never carries the body or the secret."""

    webhook_id: str
    workflow_id: str
    status: int
    # a short code: signature_missing, signature_invalid, timestamp_out_of_tolerance, method_not_allowed,
    # body_too_large, rate_limited, malformed_body, workflow_inactive
    reason: str
    method: str
    # bytes of the body actually read (the gateway stops reading at the limit), and the declared Content-Length
    received_bytes: int = 0
    declared_bytes: int | None = None
    source_address: str | None = None


# ---- executions --------------------------------------------------------------------------------------------------


class StepError(WireModel):
    message: str
    retryable: bool = False


class ExecutionError(WireModel):
    node_id: str | None
    message: str


@message("ExecutionStarted", "event")
class ExecutionStarted(Payload):
    workflow_id: str
    workflow_version: int
    mode: Literal["webhook", "manual", "replay"]
    trigger_id: str
    input: Any
    spec: WorkflowSpec
    replay_of: str | None = None
    reused_outputs: dict[str, Any] = Field(default_factory=dict)


@message("StepScheduled", "event")
class StepScheduled(Payload):
    """A node is ready; `notBefore` is set when it waits for a retry backoff or a delay timer."""

    node_id: str
    node_type: str
    attempt: int
    # what the node receives as `$input`, recorded so a retry or a timer resumes with the same input
    input: Any = None
    not_before: str | None = None


@message("StepRequested", "event")
class StepRequested(Payload):
    """Work for an executor (step-requests topic): everything needed to run one attempt of one node."""

    execution_id: str
    workflow_id: str
    workflow_version: int
    node_id: str
    node_type: str
    attempt: int
    parameters: dict[str, Any]
    input: Any
    # what expressions may read: {"input": execution input, "nodes": {nodeId: output},
    # "execution": {"id"}, "workflow": {"id", "version"}}; `$input` is the `input` field above
    context: dict[str, Any]
    timeout_seconds: float | None = None


@message("StepSucceeded", "event")
class StepSucceeded(Payload):
    node_id: str
    attempt: int
    output: Any
    output_name: str = "main"


@message("StepFailed", "event")
class StepFailed(Payload):
    node_id: str
    attempt: int
    error: StepError


@message("StepSkipped", "event")
class StepSkipped(Payload):
    node_id: str


@message("ExecutionSucceeded", "event")
class ExecutionSucceeded(Payload):
    output: Any


@message("ExecutionFailed", "event")
class ExecutionFailed(Payload):
    error: ExecutionError


@message("ExecutionCancelled", "event")
class ExecutionCancelled(Payload):
    reason: str


@message("ResponseProduced", "event")
class ResponseProduced(Payload):
    """A `response` node's answer for a waiting synchronous webhook."""

    node_id: str
    status_code: int
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
