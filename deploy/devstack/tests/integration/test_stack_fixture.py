"""The `stack` fixture runs the real four services: the API answers, and a killed service comes back."""

from __future__ import annotations

import httpx
import pytest

from flowmatic_devstack.harness import RunningStack

pytestmark = pytest.mark.integration

WORKFLOW = {
    "name": "fixture check",
    "nodes": [{"id": "trigger", "type": "webhook"}, {"id": "done", "type": "noop"}],
    "connections": [{"from": "trigger", "to": "done"}],
}


async def create_workflow(api: httpx.AsyncClient) -> str:
    response = await api.post("/api/v1/workflows", json=WORKFLOW)
    assert response.status_code == 201, response.text
    workflow_id: str = response.json()["id"]
    return workflow_id


async def test_the_stack_serves_the_api_with_its_admin_key(stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        workflow_id = await create_workflow(api)
        fetched = await api.get(f"/api/v1/workflows/{workflow_id}")
        anonymous = await api.get("/api/v1/workflows", headers={"Authorization": ""})

    assert fetched.status_code == 200
    assert fetched.json()["name"] == "fixture check"
    assert anonymous.status_code == 401
    for name in ("query", "orchestrator", "executor", "gateway"):
        async with httpx.AsyncClient(base_url=stack.url(name)) as client:
            assert (await client.get("/readyz")).status_code == 200


async def test_a_killed_orchestrator_restarts_and_a_second_instance_joins(stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    stack.kill("orchestrator")
    await stack.restart("orchestrator")
    second = await stack.start_instance("orchestrator")

    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        workflow_id = await create_workflow(api)
        fetched = await api.get(f"/api/v1/workflows/{workflow_id}")

    assert second == "orchestrator-1"
    assert stack.process("orchestrator-1").running
    assert fetched.status_code == 200


async def test_the_shared_stack_serves_the_api(shared_stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {shared_stack.admin_key}"}
    async with httpx.AsyncClient(base_url=shared_stack.gateway_url, headers=headers, timeout=30) as api:
        workflow_id = await create_workflow(api)
        listed = await api.get("/api/v1/workflows")

    assert workflow_id in [workflow["id"] for workflow in listed.json()["data"]]
