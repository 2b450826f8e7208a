"""Executions through the whole stack: webhooks and /execute, every connector, branches, retries, delays,
payload shapes, deduplication, and the execution read models."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
import pytest

from flowmatic_devstack.harness import RunningStack
from flowmatic_devstack.testing import EchoServer, api_client, step_of, wait_finished

pytestmark = pytest.mark.integration

SEED = {"customer_id": "cust_123", "event": "order.created", "data": {"amount": 99.99, "currency": "USD"}}


def chain(*ids: str) -> list[dict[str, str]]:
    return [{"from": a, "to": b} for a, b in itertools.pairwise(ids)]


async def create(api: httpx.AsyncClient, nodes: list[Any], connections: list[Any], **extra: Any) -> dict[str, Any]:
    resp = await api.post(
        "/api/v1/workflows", json={"name": "e2e", "nodes": nodes, "connections": connections, **extra}
    )
    assert resp.status_code == 201, resp.text
    workflow: dict[str, Any] = resp.json()
    return workflow


def hook_path(workflow: dict[str, Any]) -> str:
    return f"/api/webhooks/{workflow['webhooks'][0]['webhookId']}"


async def test_webhook_answer_context_and_read_your_writes(shared_stack: RunningStack) -> None:
    async with api_client(shared_stack) as api:
        workflow = await create(
            api, [{"id": "trigger", "type": "webhook"}, {"id": "pass", "type": "noop"}], chain("trigger", "pass")
        )
        resp = await api.post(
            hook_path(workflow) + "?source=api",
            json=SEED,
            headers={"User-Agent": "MyApp/1.0", "Authorization": "Bearer caller-secret", "Cookie": "sid=1"},
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body == {
            "status": "success",
            "message": "Webhook received and workflow triggered",
            "webhookId": workflow["webhooks"][0]["webhookId"],
            "workflowId": workflow["id"],
            "executionId": body["executionId"],
            "executionStatus": "RUNNING",
        }
        assert (await api.get(f"/api/v1/executions/{body['executionId']}")).status_code == 200  # no 404, ever
        execution = await wait_finished(api, body["executionId"])
        assert (
            execution["status"] == "SUCCEEDED"
            and execution["mode"] == "webhook"
            and execution["triggerId"] == "trigger"
        )
        context = execution["input"]["_webhook"]
        assert context["headers"]["user-agent"] == "MyApp/1.0" and context["query"] == {"source": "api"}
        assert context["headers"]["authorization"] == "[redacted]" and context["headers"]["cookie"] == "[redacted]"
        assert context["method"] == "POST" and context["receivedAt"].endswith("Z")
        assert "caller-secret" not in (await api.get(f"/api/v1/executions/{execution['id']}")).text
        assert execution["input"]["data"] == SEED["data"]


async def test_payload_shapes_and_odd_characters_survive(shared_stack: RunningStack) -> None:
    async with api_client(shared_stack) as api:
        workflow = await create(
            api,
            [{"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST", "GET", "PUT"]}}],
            [],
        )
        path = hook_path(workflow)
        cases: list[tuple[str, dict[str, Any], Any]] = [
            ("GET", {"params": [("tag", "a"), ("tag", "b"), ("one", "1")]}, {"tag": ["a", "b"], "one": "1"}),
            ("POST", {"data": {"name": "Zoë", "n": "2"}}, {"name": "Zoë", "n": "2"}),
            ("POST", {"content": b"plain words", "headers": {"content-type": "text/plain"}}, {"body": "plain words"}),
            ("POST", {"json": [1, "two"]}, {"body": [1, "two"]}),
            ("PUT", {"json": {"nul": "a\u0000b", "snow": "☃ 😀"}}, {"nul": "a\u0000b", "snow": "☃ 😀"}),
        ]
        for method, kwargs, expected in cases:
            resp = await api.request(method, path, **kwargs)
            assert resp.status_code == 200, (method, kwargs, resp.text)
            execution = await wait_finished(api, resp.json()["executionId"])
            got = {k: v for k, v in execution["input"].items() if k != "_webhook"}
            assert got == expected, (method, kwargs)
            assert execution["input"]["_webhook"]["method"] == method


async def test_webhook_refusals(shared_stack: RunningStack) -> None:
    async with api_client(shared_stack) as api:
        limited = await create(
            api, [{"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"], "maxBodyBytes": 1024}}], []
        )
        path = hook_path(limited)
        not_allowed = await api.get(path)
        assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["allow"]
        assert (await api.post(path, json={"blob": "x" * 4096})).status_code == 413
        invalid = await api.post(path, content=b"{nope", headers={"content-type": "application/json"})
        assert invalid.status_code == 400
        assert (await api.post("/api/webhooks/wh_does_not_exist", json={})).status_code == 404
        inactive = await create(api, [{"id": "trigger", "type": "webhook"}], [], active=False)
        assert (await api.post(hook_path(inactive), json={})).status_code == 404
        await asyncio.sleep(0.5)
        listed = await api.get("/api/v1/executions", params={"workflowId": limited["id"]})
        assert listed.json()["data"] == []  # no refused delivery started anything


async def test_repeated_delivery_starts_one_execution(shared_stack: RunningStack) -> None:
    async with api_client(shared_stack) as api:
        workflow = await create(api, [{"id": "trigger", "type": "webhook"}], [])
        first = await api.post(hook_path(workflow), json=SEED, headers={"Idempotency-Key": "k-1"})
        again = await api.post(hook_path(workflow), json=SEED, headers={"Idempotency-Key": "k-1"})
        other = await api.post(hook_path(workflow), json=SEED, headers={"webhook-id": "k-2"})
        assert first.json()["executionId"] == again.json()["executionId"] != other.json()["executionId"]
        for execution_id in (first.json()["executionId"], other.json()["executionId"]):
            await wait_finished(api, execution_id)
        listed = (await api.get("/api/v1/executions", params={"workflowId": workflow["id"]})).json()["data"]
        assert sorted(e["id"] for e in listed) == sorted([first.json()["executionId"], other.json()["executionId"]])


async def test_expressions_branches_and_manual_execute(shared_stack: RunningStack) -> None:
    nodes = [
        {"id": "start", "type": "manual"},
        {"id": "first", "type": "set", "parameters": {"fields": {"total": "{{data.amount}}"}}},
        {
            "id": "route",
            "type": "switch",
            "parameters": {
                "rules": [
                    {"output": "big", "conditions": [{"left": "{{$input.total}}", "operator": "gt", "right": "50"}]}
                ],
                "fallback": "small",
            },
        },
        {
            "id": "big",
            "type": "set",
            "parameters": {
                "fields": {
                    "text": "Order {{event}}: {{$node.first.total}}",
                    "typed": "{{$node.first.total}}",
                    "missing": "{{nope.nothing}}",
                    "run": "{{$execution.id}}",
                    "wf": "{{$workflow.id}}",
                }
            },
        },
        {"id": "small", "type": "noop"},
        {
            "id": "check",
            "type": "if",
            "parameters": {"conditions": [{"left": "{{event}}", "operator": "startsWith", "right": "order."}]},
        },
        {"id": "joined", "type": "noop"},
    ]
    connections = [
        *chain("start", "first", "route"),
        {"from": "route", "output": "big", "to": "big"},
        {"from": "route", "output": "small", "to": "small"},
        {"from": "start", "to": "check"},
        {"from": "big", "to": "joined"},
        {"from": "check", "output": "true", "to": "joined"},
    ]
    async with api_client(shared_stack) as api:
        workflow = await create(api, nodes, connections)
        resp = await api.post(f"/api/v1/workflows/{workflow['id']}/execute", json=SEED)
        assert resp.status_code == 202, resp.text
        assert resp.headers["location"].endswith(f"/api/v1/executions/{resp.json()['executionId']}")
        execution = await wait_finished(api, resp.json()["executionId"])
        assert execution["status"] == "SUCCEEDED" and execution["mode"] == "manual"
        assert step_of(execution, "big")["output"] == {
            "text": "Order order.created: 99.99",
            "typed": 99.99,
            "missing": None,
            "run": execution["id"],
            "wf": workflow["id"],
        }
        assert step_of(execution, "small")["status"] == "SKIPPED"
        assert step_of(execution, "joined")["output"] == {"big": step_of(execution, "big")["output"], "check": SEED}
        assert (await api.post("/api/v1/workflows/wf_unknown/execute", json={})).status_code == 404


async def test_http_request_retries_then_fails_naming_the_node(shared_stack: RunningStack, echo: EchoServer) -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {
            "id": "call",
            "type": "http_request",
            "parameters": {"method": "POST", "url": echo.url + "/fail/{{customer_id}}"},
            "retry": {"maxAttempts": 3, "backoffSeconds": 0.2},
        },
    ]
    async with api_client(shared_stack) as api:
        workflow = await create(api, nodes, chain("trigger", "call"))
        execution = await wait_finished(api, (await api.post(hook_path(workflow), json=SEED)).json()["executionId"])
        assert execution["status"] == "FAILED" and execution["error"]["nodeId"] == "call"
        assert step_of(execution, "call")["attempt"] == 3
        calls = [r for r in echo.requests if r["path"] == "/fail/cust_123"]
        assert len(calls) == 3
        keys = [r["headers"]["idempotency-key"] for r in calls]
        assert keys == [f"{execution['id']}:call:{n}" for n in (1, 2, 3)]


async def test_delay_holds_the_execution(shared_stack: RunningStack) -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "pause", "type": "delay", "parameters": {"seconds": 2}},
        {"id": "after", "type": "noop"},
    ]
    async with api_client(shared_stack) as api:
        workflow = await create(api, nodes, chain("trigger", "pause", "after"))
        started = time.monotonic()
        execution_id = (await api.post(hook_path(workflow), json={})).json()["executionId"]
        waiting = (await api.get(f"/api/v1/executions/{execution_id}")).json()
        assert waiting["status"] == "RUNNING"
        execution = await wait_finished(api, execution_id)
        assert execution["status"] == "SUCCEEDED" and time.monotonic() - started >= 2


async def test_execution_list_filters_and_pages(shared_stack: RunningStack) -> None:
    nodes = [
        {"id": "trigger", "type": "webhook"},
        {"id": "gate", "type": "if", "parameters": {"conditions": [{"left": "{{n}}", "operator": "lt", "right": 3}]}},
        {"id": "stop", "type": "fail", "parameters": {"message": "too big: {{n}}"}},
    ]
    connections = [*chain("trigger", "gate"), {"from": "gate", "output": "false", "to": "stop"}]
    async with api_client(shared_stack) as api:
        workflow = await create(api, nodes, connections)
        ids = [(await api.post(hook_path(workflow), json={"n": n})).json()["executionId"] for n in range(5)]
        for execution_id in ids:
            await wait_finished(api, execution_id)
        failed = (await api.get("/api/v1/executions", params={"workflowId": workflow["id"], "status": "FAILED"})).json()
        assert len(failed["data"]) == 2 and {e["error"]["message"] for e in failed["data"]} == {
            "too big: 3",
            "too big: 4",
        }
        assert "steps" not in failed["data"][0] and "input" not in failed["data"][0]
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"workflowId": workflow["id"], "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await api.get("/api/v1/executions", params=params)).json()
            seen += [e["id"] for e in page["data"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == sorted(ids, reverse=True)  # newest first, each once
        for bad in ({"status": "DONE"}, {"since": "yesterday"}, {"limit": "many"}, {"cursor": "!!"}):
            assert (await api.get("/api/v1/executions", params=bad)).status_code == 400, bad


async def test_a_trigger_rate_limit_answers_429_with_retry_after(shared_stack: RunningStack) -> None:
    async with api_client(shared_stack) as api:
        limited = await create(
            api,
            [{"id": "trigger", "type": "webhook", "parameters": {"rateLimitPerSecond": 0.2, "rateLimitBurst": 1}}],
            [],
        )
        first = await api.post(hook_path(limited), json={"n": 1})
        assert first.status_code == 200, first.text
        second = await api.post(hook_path(limited), json={"n": 2})
        assert second.status_code == 429, second.text
        assert second.headers["content-type"].startswith("application/problem+json")
        assert int(second.headers["retry-after"]) >= 1
        await wait_finished(api, first.json()["executionId"])
        listed = (await api.get("/api/v1/executions", params={"workflowId": limited["id"]})).json()["data"]
        assert [e["id"] for e in listed] == [first.json()["executionId"]]  # the refused one started nothing
