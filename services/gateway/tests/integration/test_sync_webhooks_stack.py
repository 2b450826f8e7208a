"""Synchronous webhooks and signed deliveries through the four real services (the devstack `stack` fixture)."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import orjson
import pytest

from flowmatic_contracts.envelope import encode
from flowmatic_contracts.events import WebhookRejected
from flowmatic_devstack.pytest_plugin import RunningStack
from flowmatic_gateway.domain.signatures import sign, sign_standard

from .conftest import read_until

pytestmark = pytest.mark.integration
SECRET = "whsec_" + base64.b64encode(b"integration-secret-32-bytes-long").decode()
CONCURRENT_CALLS = 120

ECHO_WORKFLOW: dict[str, Any] = {
    "name": "echo",
    "nodes": [
        {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"], "secret": SECRET}},
        {"id": "shape", "type": "set", "parameters": {"fields": {"caller": "{{caller}}", "n": "{{n}}"}}},
        {
            "id": "reply",
            "type": "response",
            "parameters": {
                "statusCode": 201,
                "headers": {"X-Caller": "{{$input.caller}}"},
                "body": {"caller": "{{$input.caller}}", "n": "{{$input.n}}", "executionId": "{{$execution.id}}"},
            },
        },
    ],
    "connections": [{"from": "trigger", "to": "shape"}, {"from": "shape", "to": "reply"}],
}


def signed(body: bytes, n: int) -> dict[str, str]:
    """Half the callers sign with X-Webhook-Signature, half with Standard Webhooks."""
    if n % 2:
        return {"X-Webhook-Signature": sign(SECRET, body), "content-type": "application/json"}
    now = int(time.time())
    return {
        "webhook-id": f"msg_{n}",
        "webhook-timestamp": str(now),
        "webhook-signature": sign_standard(SECRET, f"msg_{n}", now, body),
        "content-type": "application/json",
    }


async def test_many_concurrent_synchronous_calls_over_two_gateways_each_get_their_own_answer(
    stack: RunningStack,
) -> None:
    second = await stack.start_instance("gateway")
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        created = await api.post("/api/v1/workflows", json=ECHO_WORKFLOW)
        assert created.status_code == 201, created.text
    webhook_id = created.json()["webhooks"][0]["webhookId"]
    gateways = [stack.gateway_url, stack.url(second)]
    limits = httpx.Limits(max_connections=CONCURRENT_CALLS, max_keepalive_connections=CONCURRENT_CALLS)

    async def call(client: httpx.AsyncClient, n: int) -> tuple[int, httpx.Response]:
        body = orjson.dumps({"caller": f"caller-{n}", "n": n})
        url = f"{gateways[n % 2]}/api/webhooks/{webhook_id}"
        return n, await client.post(url, content=body, headers=signed(body, n))

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        answers = await asyncio.gather(*(call(client, n) for n in range(CONCURRENT_CALLS)))

    execution_ids = set()
    for n, response in answers:
        assert response.status_code == 201, (n, response.text)
        body = response.json()
        assert body["caller"] == f"caller-{n}" and body["n"] == n  # its own answer: no cross-talk
        assert response.headers["x-caller"] == f"caller-{n}"
        execution_ids.add(body["executionId"])
    assert len(execution_ids) == CONCURRENT_CALLS  # one execution each, no lost or shared wake-up

    # read-your-writes: every execution a caller was answered for is readable through either gateway
    async with httpx.AsyncClient(base_url=gateways[1], headers=headers, timeout=30) as api:
        some = sorted(execution_ids)[:5]
        for execution_id in some:
            assert (await api.get(f"/api/v1/executions/{execution_id}")).status_code == 200


async def test_a_refused_delivery_reaches_the_webhooks_topic_without_body_or_secret(stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        created = await api.post("/api/v1/workflows", json=ECHO_WORKFLOW)
        assert created.status_code == 201, created.text
        webhook_id = created.json()["webhooks"][0]["webhookId"]
        body = b'{"caller": "intruder-payload-7d2e"}'
        refused = await api.post(f"/api/webhooks/{webhook_id}", content=body, headers={"X-Webhook-Signature": "x"})
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

    def found(seen: list[tuple[bytes | None, Any]]) -> bool:
        return any(isinstance(envelope.payload, WebhookRejected) for _, envelope in seen)

    seen = await read_until(stack.kafka_bootstrap, stack.topics.webhooks, found)
    [(key, envelope)] = [(k, e) for k, e in seen if isinstance(e.payload, WebhookRejected)]
    rejected = envelope.payload_as(WebhookRejected)
    assert key == webhook_id.encode() and envelope.aggregate_id == webhook_id
    assert rejected.status == 401 and rejected.reason == "signature_malformed"
    assert rejected.received_bytes == len(body) and rejected.source_address == "127.0.0.1"
    raw = encode(envelope)
    assert b"intruder-payload" not in raw and SECRET.encode() not in raw
    assert all(e.type != "WebhookReceived" for _, e in seen)  # no execution was started
