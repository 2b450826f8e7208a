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
    """Run a workflow; the envelope's aggregateId is the new execution id (assigned by the gateway)."""

    workflow_id: str
    trigger_id: str | None = None
    input: Any = None
    mode: Literal["manual"] = "manual"
