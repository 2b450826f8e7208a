"""The public workflow document: what GET returns, rendered from the workflow events.

The document is stored without the webhook `url`s; `with_webhook_urls` adds them when it is served, so a
change of public base URL needs no rebuild of the read model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowmatic_contracts.workflow import ConnectionSpec, NodeSpec, WebhookBinding, WorkflowSpec
from flowmatic_query.domain.timestamps import format_timestamp

# Optional node fields a client may leave out; absent ones are dropped so GET returns the node as it was sent.
_OPTIONAL_NODE_FIELDS = ("name", "retry", "timeoutSeconds")
# Node types whose `parameters.secret` is write-only (the gateway strips it; this is the second line of defence).
_SECRET_BEARING_TYPES = frozenset({"webhook"})

Document = dict[str, Any]


def render_node(node: NodeSpec) -> dict[str, Any]:
    """A node as the client wrote it: camelCase, absent optional fields left out, never a secret."""
    rendered = node.model_dump(mode="json", by_alias=True)
    for field in _OPTIONAL_NODE_FIELDS:
        if rendered.get(field) is None:
            rendered.pop(field, None)
    if node.type in _SECRET_BEARING_TYPES:
        rendered["parameters"] = {k: v for k, v in rendered["parameters"].items() if k != "secret"}
    return rendered


def render_connection(connection: ConnectionSpec) -> dict[str, Any]:
    """A connection with `from`, `to` and `output`."""
    return connection.model_dump(mode="json", by_alias=True)


def render_webhook(binding: WebhookBinding) -> dict[str, Any]:
    """A webhook trigger's public fields, less the `url` (see `with_webhook_urls`)."""
    return {
        "webhookId": binding.webhook_id,
        "triggerId": binding.trigger_id,
        "methods": list(binding.methods),
        "hasSecret": binding.has_secret,
    }


def render_workflow(
    *,
    workflow_id: str,
    version: int,
    spec: WorkflowSpec,
    webhooks: list[WebhookBinding],
    created_at: datetime,
    updated_at: datetime,
) -> Document:
    """The stored document of a workflow at one version. Encrypted secrets are not an input: they cannot leak."""
    document: Document = {
        "id": workflow_id,
        "name": spec.name,
        "description": spec.description,
        "active": spec.active,
        "nodes": [render_node(node) for node in spec.nodes],
        "connections": [render_connection(connection) for connection in spec.connections],
    }
    # Only when set, so documents of workflows that never used it read exactly as they always did.
    if spec.execution_retention_days is not None:
        document["executionRetentionDays"] = spec.execution_retention_days
    return {
        **document,
        "version": version,
        "createdAt": format_timestamp(created_at),
        "updatedAt": format_timestamp(updated_at),
        "webhooks": [render_webhook(binding) for binding in webhooks],
    }


def retention_lifted(before: int | None, after: int | None) -> bool:
    """Whether a change of `executionRetentionDays` may bring swept executions back: removed, or raised."""
    return before is not None and (after is None or after > before)


def mark_deleted(document: Document, *, version: int, deleted_at: datetime) -> Document:
    """The document recorded for a deletion: the last state, at the deletion's version and time."""
    return {**document, "version": version, "updatedAt": format_timestamp(deleted_at)}


def webhook_url(public_url: str, webhook_id: str) -> str:
    """The absolute address a webhook is called at."""
    return f"{public_url.rstrip('/')}/api/webhooks/{webhook_id}"


def with_webhook_urls(document: Document, public_url: str) -> Document:
    """The document as served: every webhook gets its absolute `url`, in the spec's field order."""
    hooks = [
        {
            "webhookId": hook["webhookId"],
            "triggerId": hook["triggerId"],
            "url": webhook_url(public_url, hook["webhookId"]),
            "methods": hook["methods"],
            "hasSecret": hook["hasSecret"],
        }
        for hook in document.get("webhooks", [])
    ]
    return {**document, "webhooks": hooks}
