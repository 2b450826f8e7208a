"""Workflows through the whole stack: gateway → Kafka → orchestrator → Kafka → query → gateway, for real."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flowmatic_devstack.harness import RunningStack

pytestmark = pytest.mark.integration

WEBHOOK_NOOP: dict[str, Any] = {
    "nodes": [{"id": "trigger", "type": "webhook"}, {"id": "pass", "type": "noop"}],
    "connections": [{"from": "trigger", "to": "pass"}],
}


def client(stack: RunningStack, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token or stack.admin_key}"}
    return httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30)


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["title"]
    return body


async def test_workflow_lifecycle_reads_its_own_writes(shared_stack: RunningStack) -> None:
    async with client(shared_stack) as api:
        created = await api.post("/api/v1/workflows", json={"name": "orders", **WEBHOOK_NOOP})
        assert created.status_code == 201, created.text
        workflow = created.json()
        wid = workflow["id"]
        assert created.headers["location"] == f"{shared_stack.gateway_url}/api/v1/workflows/{wid}"
        assert workflow["version"] == 1 and workflow["active"] is True
        [hook] = workflow["webhooks"]
        assert hook["url"] == f"{shared_stack.gateway_url}/api/webhooks/{hook['webhookId']}"

        got = await api.get(f"/api/v1/workflows/{wid}")  # immediately after the 201
        assert got.status_code == 200 and got.json() == workflow

        updated = await api.put(
            f"/api/v1/workflows/{wid}", json={"name": "orders v2", **WEBHOOK_NOOP}, headers={"If-Match": '"1"'}
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["version"] == 2 and updated.json()["webhooks"][0]["webhookId"] == hook["webhookId"]
        assert (await api.get("/api/v1/workflows", params={"name": "orders v2"})).json()["data"][0]["id"] == wid

        stale = await api.put(
            f"/api/v1/workflows/{wid}", json={"name": "x", **WEBHOOK_NOOP}, headers={"If-Match": '"1"'}
        )
        assert_problem(stale, 412)

        assert (await api.delete(f"/api/v1/workflows/{wid}")).status_code == 204
        assert_problem(await api.get(f"/api/v1/workflows/{wid}"), 404)
        assert_problem(await api.delete(f"/api/v1/workflows/{wid}"), 404)
        assert_problem(await api.put(f"/api/v1/workflows/{wid}", json={"name": "x", **WEBHOOK_NOOP}), 404)
        assert_problem(await api.post(f"/api/webhooks/{hook['webhookId']}", json={}), 404)


async def test_invalid_workflows_are_refused_before_the_log(shared_stack: RunningStack) -> None:
    async with client(shared_stack) as api:
        cycle = {
            "name": "cycle",
            "nodes": [{"id": "t", "type": "webhook"}, {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
            "connections": [{"from": "t", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
        }
        body = assert_problem(await api.post("/api/v1/workflows", json=cycle), 422)
        assert body["errors"] and all({"path", "message"} <= set(e) for e in body["errors"])
        malformed = await api.post(
            "/api/v1/workflows", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert_problem(malformed, 400)
        listed = await api.get("/api/v1/workflows", params={"name": "cycle"})
        assert listed.json() == {"data": [], "nextCursor": None}


async def test_secrets_never_come_back_and_are_kept_across_updates(shared_stack: RunningStack) -> None:
    secret = "s3cr3t-value-for-e2e"
    nodes = [{"id": "trigger", "type": "webhook", "parameters": {"secret": secret}}, {"id": "pass", "type": "noop"}]
    async with client(shared_stack) as api:
        created = await api.post(
            "/api/v1/workflows", json={"name": "signed", "nodes": nodes, "connections": WEBHOOK_NOOP["connections"]}
        )
        assert created.status_code == 201, created.text
        assert secret not in created.text and created.json()["webhooks"][0]["hasSecret"] is True
        path = f"/api/v1/workflows/{created.json()['id']}"
        kept = await api.put(path, json={"name": "signed", **WEBHOOK_NOOP})
        assert kept.json()["webhooks"][0]["hasSecret"] is True
        assert secret not in (await api.get("/api/v1/workflows")).text
        assert (
            await api.post(f"/api/webhooks/{created.json()['webhooks'][0]['webhookId']}", json={})
        ).status_code == 401
        removed_nodes = [
            {"id": "trigger", "type": "webhook", "parameters": {"secret": None}},
            {"id": "pass", "type": "noop"},
        ]
        removed = await api.put(
            path, json={"name": "signed", "nodes": removed_nodes, "connections": WEBHOOK_NOOP["connections"]}
        )
        assert removed.json()["webhooks"][0]["hasSecret"] is False


async def test_auth_challenges_tokens_and_scopes(shared_stack: RunningStack) -> None:
    async with httpx.AsyncClient(base_url=shared_stack.gateway_url, timeout=30) as anon:
        missing = await anon.get("/api/v1/workflows")
        assert_problem(missing, 401)
        assert missing.headers["www-authenticate"] == 'Bearer realm="flowmatic"'
        bad = await anon.get("/api/v1/workflows", headers={"Authorization": "Bearer nope"})
        assert_problem(bad, 401)
        assert bad.headers["www-authenticate"] == 'Bearer realm="flowmatic", error="invalid_token"'
        assert_problem(await anon.post("/api/v1/auth/token", json={"apiKey": "wrong"}), 401)

        issued = await anon.post(
            "/api/v1/auth/token", json={"apiKey": shared_stack.admin_key, "scopes": ["workflows:read"]}
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()
        assert token["tokenType"] == "Bearer" and token["expiresIn"] == 3600
    async with client(shared_stack, token["accessToken"]) as reader:
        assert (await reader.get("/api/v1/workflows")).status_code == 200
        assert_problem(await reader.post("/api/v1/workflows", json={"name": "x", **WEBHOOK_NOOP}), 403)


@pytest.mark.parametrize("service", ["gateway", "query", "orchestrator", "executor"])
async def test_every_service_reports_health(shared_stack: RunningStack, service: str) -> None:
    async with httpx.AsyncClient(base_url=shared_stack.url(service), timeout=10) as probe:
        assert (await probe.get("/healthz")).status_code == 200
        assert (await probe.get("/readyz")).status_code == 200
