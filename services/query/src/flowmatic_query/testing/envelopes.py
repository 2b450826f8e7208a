"""Workflow events as the orchestrator writes them, for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flowmatic_contracts.envelope import Actor, Envelope, new_envelope
from flowmatic_contracts.events import WorkflowCreated, WorkflowDeleted, WorkflowUpdated
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec

ACTOR = Actor(kind="apiKey", id="key_test")
T0 = datetime(2026, 2, 8, 12, 0, 0, tzinfo=UTC)
SECRET_CIPHERTEXT = "CIPHERTEXT-MUST-NOT-LEAK"


def spec(name: str, *, active: bool = True) -> WorkflowSpec:
    """A webhook trigger and a noop with a retry policy."""
    trigger: dict[str, Any] = {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"]}}
    return WorkflowSpec.model_validate(
        {
            "name": name,
            "active": active,
            "nodes": [trigger, {"id": "pass", "type": "noop", "retry": {"maxAttempts": 3, "backoffSeconds": 1}}],
            "connections": [{"from": "trigger", "to": "pass"}],
        }
    )


def hook(workflow_id: str, *, has_secret: bool = False) -> WebhookBinding:
    """The trigger's webhook, with an id derived from the workflow's."""
    return WebhookBinding(webhook_id=f"wh_{workflow_id}", trigger_id="trigger", methods=["POST"], has_secret=has_secret)


def created(workflow_id: str, name: str, *, active: bool = True, at: datetime = T0) -> Envelope:
    """WorkflowCreated (version 1) with an encrypted secret that must never be served."""
    payload = WorkflowCreated(
        spec=spec(name, active=active),
        webhooks=[hook(workflow_id, has_secret=True)],
        encrypted_secrets={"trigger": SECRET_CIPHERTEXT},
    )
    return new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, sequence=1, occurred_at=at)


def updated(workflow_id: str, name: str, version: int, *, active: bool = True) -> Envelope:
    """WorkflowUpdated to `version`, `version` minutes after T0, without a secret."""
    payload = WorkflowUpdated(spec=spec(name, active=active), webhooks=[hook(workflow_id)])
    at = T0 + timedelta(minutes=version)
    return new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, sequence=version, occurred_at=at)


def deleted(workflow_id: str, version: int) -> Envelope:
    """WorkflowDeleted at `version`, `version` minutes after T0."""
    payload = WorkflowDeleted(webhook_ids=[f"wh_{workflow_id}"])
    at = T0 + timedelta(minutes=version)
    return new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, sequence=version, occurred_at=at)
