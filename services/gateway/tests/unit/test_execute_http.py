"""POST /api/v1/workflows/{id}/execute and the choice of trigger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowmatic_contracts.commands import StartExecution
from flowmatic_contracts.envelope import SYSTEM, Envelope, new_envelope
from flowmatic_contracts.events import CommandAccepted, WorkflowCreated
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_gateway.adapters.in_memory import InMemoryBus, InMemoryOutcomes, InMemoryQuery, InMemoryWebhookDirectory
from flowmatic_gateway.domain.connectors import SharedCatalog
from flowmatic_gateway.domain.triggers import TriggerChoiceError, choose_trigger

Problem = Callable[[httpx.Response, int], dict[str, Any]]


def workflow(*triggers: tuple[str, str]) -> WorkflowSpec:
    nodes = [{"id": node_id, "type": node_type} for node_id, node_type in triggers] + [{"id": "n", "type": "noop"}]
    return WorkflowSpec.model_validate({"name": "w", "nodes": nodes})


def test_choose_trigger() -> None:
    is_trigger = SharedCatalog().is_trigger
    assert choose_trigger(workflow(("m", "manual")), None, is_trigger) == "m"
    assert choose_trigger(workflow(("h", "webhook"), ("m", "manual")), None, is_trigger) == "m"
    assert choose_trigger(workflow(("h", "webhook")), None, is_trigger) == "h"
    assert choose_trigger(workflow(("h", "webhook"), ("m", "manual")), "h", is_trigger) == "h"
    for spec, requested in [
        (workflow(("a", "webhook"), ("b", "webhook")), None),
        (workflow(("m", "manual")), "n"),
        (workflow(("m", "manual")), "ghost"),
    ]:
        with pytest.raises(TriggerChoiceError):
            choose_trigger(spec, requested, is_trigger)


@pytest.fixture
def manual_workflow(directory: InMemoryWebhookDirectory) -> WorkflowSpec:
    spec = workflow(("start", "manual"))
    directory.apply(
        new_envelope(WorkflowCreated(spec=spec, webhooks=[]), aggregate_id="wf_1", actor=SYSTEM, sequence=3)
    )
    return spec


async def test_execute_starts_the_current_version(
    api: httpx.AsyncClient,
    bus: InMemoryBus,
    outcomes: InMemoryOutcomes,
    query: InMemoryQuery,
    manual_workflow: WorkflowSpec,
) -> None:
    def accept(envelope: Envelope) -> None:
        outcomes.deliver(
            envelope.correlation_id,
            CommandAccepted(
                command_id=envelope.id, command_type=envelope.type, aggregate_id=envelope.aggregate_id, version=1
            ),
        )

    bus.on_send = accept
    resp = await api.post("/api/v1/workflows/wf_1/execute", json={"x": 21})
    assert resp.status_code == 202, resp.text
    [sent] = bus.sent
    command = sent.payload_as(StartExecution)
    assert resp.json() == {"executionId": sent.aggregate_id, "workflowId": "wf_1", "status": "RUNNING"}
    assert resp.headers["location"] == f"https://flowmatic.test/api/v1/executions/{sent.aggregate_id}"
    assert command.workflow_version == 3 and command.spec == manual_workflow
    assert command.trigger_id == "start" and command.input == {"x": 21} and command.mode == "manual"
    assert query.syncs == 1


async def test_execute_errors(
    api: httpx.AsyncClient, anon: httpx.AsyncClient, bus: InMemoryBus, manual_workflow: WorkflowSpec, problem: Problem
) -> None:
    problem(await api.post("/api/v1/workflows/wf_nope/execute", json={}), 404)
    problem(await api.post("/api/v1/workflows/wf_1/execute?triggerId=n", json={}), 422)
    problem(await api.post("/api/v1/workflows/wf_1/execute", content=b"{"), 400)
    token = (
        await anon.post("/api/v1/auth/token", json={"apiKey": "test-admin-key", "scopes": ["workflows:write"]})
    ).json()
    denied = await anon.post(
        "/api/v1/workflows/wf_1/execute", headers={"Authorization": f"Bearer {token['accessToken']}"}
    )
    problem(denied, 403)
    assert bus.sent == []
