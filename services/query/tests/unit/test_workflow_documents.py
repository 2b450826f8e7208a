"""The public workflow document rendered from the workflow events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec
from flowmatic_query.domain.timestamps import format_timestamp
from flowmatic_query.domain.workflows import mark_deleted, render_workflow, with_webhook_urls

CREATED = datetime(2026, 2, 8, 12, 0, 0, tzinfo=UTC)
UPDATED = CREATED + timedelta(hours=1, microseconds=123_456)

CLIENT_SPEC = {
    "name": "Order created → notify",
    "description": "optional",
    "active": True,
    "nodes": [
        {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST", "GET"], "secret": "s3cr3t"}},
        {
            "id": "check",
            "type": "if",
            "name": "Big order?",
            "parameters": {"conditions": [{"left": "{{data.amount}}", "operator": "gt", "right": 50}]},
        },
        {
            "id": "notify",
            "type": "http_request",
            "parameters": {"method": "POST", "url": "https://example.test/hook", "body": {"x": None}},
            "retry": {"maxAttempts": 3, "backoffSeconds": 1},
            "timeoutSeconds": 30,
        },
        {"id": "set", "type": "set", "parameters": {"fields": {"secret": "not a webhook secret"}}},
    ],
    "connections": [{"from": "trigger", "to": "check"}, {"from": "check", "output": "true", "to": "notify"}],
}
BINDING = WebhookBinding(webhook_id="wh_1", trigger_id="trigger", methods=["POST", "GET"], has_secret=True)


def _render() -> dict[str, object]:
    spec = WorkflowSpec.model_validate(CLIENT_SPEC)
    return render_workflow(
        workflow_id="wf_1", version=2, spec=spec, webhooks=[BINDING], created_at=CREATED, updated_at=UPDATED
    )


def test_document_carries_the_nodes_as_sent_without_the_webhook_secret() -> None:
    document = _render()
    nodes = document["nodes"]
    assert isinstance(nodes, list)
    assert nodes[0] == {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST", "GET"]}}
    assert nodes[1] == CLIENT_SPEC["nodes"][1]  # type: ignore[index]
    assert nodes[2] == {**CLIENT_SPEC["nodes"][2], "retry": {"maxAttempts": 3, "backoffSeconds": 1.0}}  # type: ignore[index]
    # only webhook triggers hold write-only secrets; a `set` field named secret is data
    assert nodes[3]["parameters"] == {"fields": {"secret": "not a webhook secret"}}
    assert "s3cr3t" not in str(document)


def test_document_fields() -> None:
    document = _render()
    assert document["id"] == "wf_1" and document["version"] == 2
    assert document["name"] == "Order created → notify" and document["description"] == "optional"
    assert document["active"] is True
    assert document["connections"] == [
        {"from": "trigger", "to": "check", "output": "main"},
        {"from": "check", "to": "notify", "output": "true"},
    ]
    assert document["createdAt"] == "2026-02-08T12:00:00.000Z"
    assert document["updatedAt"] == "2026-02-08T13:00:00.123Z"
    assert document["webhooks"] == [
        {"webhookId": "wh_1", "triggerId": "trigger", "methods": ["POST", "GET"], "hasSecret": True}
    ]


def test_served_document_gets_absolute_webhook_urls() -> None:
    served = with_webhook_urls(_render(), "https://flow.example/")
    assert served["webhooks"] == [
        {
            "webhookId": "wh_1",
            "triggerId": "trigger",
            "url": "https://flow.example/api/webhooks/wh_1",
            "methods": ["POST", "GET"],
            "hasSecret": True,
        }
    ]


def test_deleted_version_keeps_the_last_state_at_the_new_version() -> None:
    gone = mark_deleted(_render(), version=3, deleted_at=UPDATED + timedelta(minutes=1))
    assert gone["version"] == 3 and gone["name"] == "Order created → notify"
    assert gone["updatedAt"] == "2026-02-08T13:01:00.123Z"


def test_timestamps_are_utc_with_z() -> None:
    plus_two = datetime(2026, 2, 8, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2026-02-08T12:00:00.000Z"
    with pytest.raises(ValueError, match="timezone"):
        format_timestamp(datetime(2026, 2, 8))
