"""Every registered command and event survives encode → decode unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from flowmatic_contracts import commands, events
from flowmatic_contracts.envelope import (
    Actor,
    Envelope,
    Payload,
    UnknownMessageTypeError,
    decode,
    encode,
    new_envelope,
    registered_types,
)
from flowmatic_contracts.workflow import (
    ConnectionSpec,
    NodeSpec,
    RetryPolicy,
    SecretChange,
    WebhookBinding,
    WorkflowSpec,
)

SPEC = WorkflowSpec(
    name="Order created → notify",
    description="ünïcode \u0000 kept",
    nodes=[
        NodeSpec(id="trigger", type="webhook", parameters={"methods": ["POST"]}),
        NodeSpec(
            id="call",
            type="http_request",
            parameters={"url": "https://x.test"},
            retry=RetryPolicy(max_attempts=3, backoff_seconds=0.5),
            timeout_seconds=10,
        ),
    ],
    connections=[ConnectionSpec(from_="trigger", to="call")],
)
HOOK = WebhookBinding(webhook_id="wh_1", trigger_id="trigger", methods=["POST"], has_secret=True)

EXAMPLES: dict[str, Payload] = {
    "CreateWorkflow": commands.CreateWorkflow(
        spec=SPEC, secrets={"trigger": SecretChange(action="set", ciphertext="c")}
    ),
    "UpdateWorkflow": commands.UpdateWorkflow(spec=SPEC, expected_version=3),
    "DeleteWorkflow": commands.DeleteWorkflow(expected_version=None),
    "StartExecution": commands.StartExecution(
        workflow_id="wf_1", workflow_version=1, spec=SPEC, trigger_id="manual", input={"a": [1, 2.5, None]}
    ),
    "WorkflowCreated": events.WorkflowCreated(spec=SPEC, webhooks=[HOOK], encrypted_secrets={"trigger": "c"}),
    "WorkflowUpdated": events.WorkflowUpdated(spec=SPEC, webhooks=[HOOK]),
    "WorkflowDeleted": events.WorkflowDeleted(webhook_ids=["wh_1"]),
    "CommandAccepted": events.CommandAccepted(
        command_id="m", command_type="StartExecution", aggregate_id="ex", version=1, mode="replay"
    ),
    "CommandRejected": events.CommandRejected(
        command_id="m",
        command_type="UpdateWorkflow",
        aggregate_id="wf",
        status=412,
        title="Precondition Failed",
        detail="stale",
        errors=[events.FieldError(path="nodes[0].type", message="unknown")],
    ),
    "WebhookReceived": events.WebhookReceived(
        webhook_id="wh_1",
        workflow_id="wf_1",
        workflow_version=2,
        trigger_id="trigger",
        payload={"x": "\u0000", "_webhook": {"method": "POST"}},
        idempotency_key="k",
        spec=SPEC,
    ),
    "WebhookRejected": events.WebhookRejected(
        webhook_id="wh_1",
        workflow_id="wf_1",
        status=413,
        reason="body_too_large",
        method="POST",
        received_bytes=1024,
        declared_bytes=None,
        source_address="127.0.0.1",
    ),
    "ExecutionStarted": events.ExecutionStarted(
        workflow_id="wf", workflow_version=1, mode="webhook", trigger_id="t", input={}, spec=SPEC
    ),
    "StepScheduled": events.StepScheduled(node_id="n", node_type="delay", attempt=1, not_before="2026-01-01T00:00:00Z"),
    "StepRequested": events.StepRequested(
        execution_id="ex",
        workflow_id="wf",
        workflow_version=1,
        node_id="n",
        node_type="set",
        attempt=1,
        parameters={"fields": {"a": "{{b}}"}},
        input={"b": 1},
        context={"input": {}},
        timeout_seconds=5,
    ),
    "StepSucceeded": events.StepSucceeded(node_id="n", attempt=1, output={"ok": True}, output_name="true"),
    "StepFailed": events.StepFailed(node_id="n", attempt=2, error=events.StepError(message="boom", retryable=True)),
    "StepSkipped": events.StepSkipped(node_id="n"),
    "ExecutionSucceeded": events.ExecutionSucceeded(output={"n": 1}),
    "ExecutionFailed": events.ExecutionFailed(error=events.ExecutionError(node_id="n", message="boom")),
    "ExecutionCancelled": events.ExecutionCancelled(reason="deleted"),
    "ResponseProduced": events.ResponseProduced(node_id="r", status_code=201, headers={"x": "y"}, body="text"),
}


def test_every_registered_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(registered_types())


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_round_trip(type_name: str) -> None:
    payload = EXAMPLES[type_name]
    envelope = new_envelope(
        payload, aggregate_id="agg", actor=Actor(kind="apiKey", id="key_1"), causation_id="c", sequence=7
    )
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert decoded.type == type_name
    assert type(decoded.payload) is type(payload)


def test_wire_format_is_camel_case() -> None:
    envelope = new_envelope(EXAMPLES["WebhookReceived"], aggregate_id="ex", actor=Actor(kind="webhook", id="wh_1"))
    raw = encode(envelope)
    assert b'"aggregateId":"ex"' in raw and b'"workflowVersion":2' in raw and b'"schemaVersion":1' in raw


def test_connection_uses_from_on_the_wire() -> None:
    raw: dict[str, Any] = EXAMPLES["CreateWorkflow"].model_dump(mode="json", by_alias=True)
    assert raw["spec"]["connections"] == [{"from": "trigger", "to": "call", "output": "main"}]


def test_unknown_type_is_refused() -> None:
    raw = encode(new_envelope(EXAMPLES["StepSkipped"], aggregate_id="a", actor=Actor(kind="system", id="s")))
    with pytest.raises(UnknownMessageTypeError):
        decode(raw.replace(b'"StepSkipped"', b'"Teleported"'))


def test_payload_as_checks_the_type() -> None:
    envelope: Envelope = new_envelope(EXAMPLES["StepSkipped"], aggregate_id="a", actor=Actor(kind="system", id="s"))
    assert envelope.payload_as(events.StepSkipped).node_id == "n"
    with pytest.raises(TypeError):
        envelope.payload_as(events.StepFailed)


def test_an_outcome_written_before_mode_existed_decodes_without_one() -> None:
    envelope = new_envelope(EXAMPLES["CommandAccepted"], aggregate_id="ex", actor=Actor(kind="system", id="s"))
    raw = encode(envelope)
    assert b',"mode":"replay"' in raw
    assert decode(raw.replace(b',"mode":"replay"', b"")).payload_as(events.CommandAccepted).mode is None
