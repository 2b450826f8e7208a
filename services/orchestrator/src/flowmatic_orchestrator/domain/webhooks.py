"""Webhook bindings and secrets of a workflow version: which trigger nodes get an address, and which keep one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flowmatic_contracts.events import FieldError
from flowmatic_contracts.workflow import NodeSpec, SecretChange, WebhookBinding, WorkflowSpec
from flowmatic_orchestrator.domain.state import WorkflowState

WEBHOOK_NODE_TYPE = "webhook"
DEFAULT_METHODS = ("POST", "GET")


@dataclass(frozen=True)
class WebhookPlan:
    """The webhooks and secret ciphertexts of a new workflow version, or the errors that forbid it."""

    webhooks: list[WebhookBinding] = field(default_factory=list)
    encrypted_secrets: dict[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)


def methods_of(node: NodeSpec) -> list[str]:
    """The trigger's HTTP methods, upper-cased, first occurrence kept; the default when none are listed."""
    listed = node.parameters.get("methods")
    if not isinstance(listed, list) or not listed or not all(isinstance(m, str) for m in listed):
        return list(DEFAULT_METHODS)
    return list(dict.fromkeys(m.upper() for m in listed))


def plan_webhooks(
    spec: WorkflowSpec,
    secrets: Mapping[str, SecretChange],
    current: WorkflowState | None,
    new_webhook_id: Callable[[], str],
) -> WebhookPlan:
    """Bind every webhook trigger node of `spec`, given the workflow's current state (None on create).

    A trigger node that was a webhook trigger before keeps its webhook id, so published URLs stay valid across
    updates; a new one gets a fresh id; a removed one loses its binding. A trigger's secret is kept when its
    change is `keep` (or absent), dropped on `remove`, replaced on `set`.
    """
    errors: list[FieldError] = []
    webhooks: list[WebhookBinding] = []
    encrypted: dict[str, str] = {}
    for index, node in enumerate(spec.nodes):
        if node.type != WEBHOOK_NODE_TYPE:
            continue
        if "secret" in node.parameters:
            # The gateway strips clear secrets into `secrets`; one that got through must never reach the log.
            errors.append(
                FieldError(path=f"nodes[{index}].parameters.secret", message="clear secrets are not accepted here")
            )
            continue
        previous = current.webhook_for(node.id) if current is not None else None
        ciphertext = _resolved_secret(node.id, secrets.get(node.id), current, index, errors)
        if ciphertext is not None:
            encrypted[node.id] = ciphertext
        webhooks.append(
            WebhookBinding(
                webhook_id=previous.webhook_id if previous is not None else new_webhook_id(),
                trigger_id=node.id,
                methods=methods_of(node),
                has_secret=ciphertext is not None,
            )
        )
    return WebhookPlan(webhooks=webhooks, encrypted_secrets=encrypted, errors=errors)


def _resolved_secret(
    trigger_id: str,
    change: SecretChange | None,
    current: WorkflowState | None,
    index: int,
    errors: list[FieldError],
) -> str | None:
    """The ciphertext a trigger has after applying `change` (None when it has no secret)."""
    if change is None or change.action == "keep":
        return current.encrypted_secrets.get(trigger_id) if current is not None else None
    if change.action == "remove":
        return None
    if not change.ciphertext:
        errors.append(FieldError(path=f"nodes[{index}].parameters.secret", message="a new secret needs a value"))
        return None
    return change.ciphertext
