"""Commands: imperative requests from the gateway to the orchestrator, on the commands topic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowmatic_contracts.envelope import Payload, message
from flowmatic_contracts.workflow import SecretChange, WorkflowSpec


@message("CreateWorkflow", "command")
class CreateWorkflow(Payload):
    """Create a workflow; the envelope's aggregateId is the new workflow id (assigned by the gateway)."""

    spec: WorkflowSpec
    secrets: dict[str, SecretChange] = Field(default_factory=dict)


@message("UpdateWorkflow", "command")
class UpdateWorkflow(Payload):
    """Replace a workflow wholesale. `expectedVersion` comes from `If-Match`; a stale one is rejected (412)."""

    spec: WorkflowSpec
    secrets: dict[str, SecretChange] = Field(default_factory=dict)
    expected_version: int | None = None


@message("DeleteWorkflow", "command")
class DeleteWorkflow(Payload):
    expected_version: int | None = None


@message("StartExecution", "command")
class StartExecution(Payload):
    """Run a workflow; the envelope's aggregateId is the new execution id (assigned by the gateway).

    The gateway resolves the workflow from its routing table and sends the definition it ran against, so the
    execution is self-contained: its history says exactly which graph ran, and replay can run it again.
    """

    workflow_id: str
    workflow_version: int
    spec: WorkflowSpec
    trigger_id: str
    input: Any = None
    mode: Literal["manual", "replay"] = "manual"
    replay_of: str | None = None
    # replay from a node: the recorded outputs of the nodes before it, reused instead of run again
    reused_outputs: dict[str, Any] = Field(default_factory=dict)
