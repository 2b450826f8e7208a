"""The gateway app wired by `bootstrap` to the real broker, with a stand-in orchestrator and query service.

The stand-in orchestrator consumes the commands topic and answers in one Kafka transaction per command (the
events and the outcome), as the real one does; the query service is the in-memory fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.fernet import Fernet

from flowmatic_contracts import ids
from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow
from flowmatic_contracts.envelope import SYSTEM, Envelope, decode, encode, new_envelope
from flowmatic_contracts.events import CommandAccepted, WebhookReceived, WorkflowCreated, WorkflowDeleted
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import WebhookBinding
from flowmatic_gateway.adapters.in_memory import InMemoryQuery
from flowmatic_gateway.bootstrap import build_deps
from flowmatic_gateway.domain.signatures import sign
from flowmatic_gateway.entrypoints.app import create_app
from flowmatic_gateway.settings import Settings

from .conftest import read_until

pytestmark = pytest.mark.integration
ADMIN_KEY = "integration-admin-key"


async def stand_in_orchestrator(bootstrap: str, topics: Topics, query: InMemoryQuery) -> None:
    """Accept every workflow command: events and outcome in one transaction; project into the fake query."""
    consumer = AIOKafkaConsumer(
        topics.commands, bootstrap_servers=bootstrap, group_id=f"orch-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"orch-{uuid.uuid4().hex}")
    await consumer.start()
    await producer.start()
    hooks: dict[str, str] = {}
    try:
        async for record in consumer:
            command = decode(record.value)
            wid = command.aggregate_id
            events: list[Envelope] = []
            if isinstance(command.payload, CreateWorkflow):
                hooks[wid] = ids.new_id(ids.WEBHOOK)
                secrets = {k: v.ciphertext for k, v in command.payload.secrets.items() if v.ciphertext}
                binding = WebhookBinding(
                    webhook_id=hooks[wid], trigger_id="t", methods=["POST"], has_secret=bool(secrets)
                )
                events.append(
                    new_envelope(
                        WorkflowCreated(spec=command.payload.spec, webhooks=[binding], encrypted_secrets=secrets),
                        aggregate_id=wid,
                        actor=command.actor,
                        sequence=1,
                    )
                )
                query.responses[f"/api/v1/workflows/{wid}"] = (200, {"id": wid, "webhookId": hooks[wid]})
            elif isinstance(command.payload, DeleteWorkflow):
                events.append(
                    new_envelope(
                        WorkflowDeleted(webhook_ids=[hooks[wid]]), aggregate_id=wid, actor=command.actor, sequence=2
                    )
                )
            outcome = new_envelope(
                CommandAccepted(
                    command_id=command.id, command_type=command.type, aggregate_id=wid, version=len(events)
                ),
                aggregate_id=command.correlation_id,
                actor=SYSTEM,
                correlation_id=command.correlation_id,
            )
            async with producer.transaction():
                for event in events:
                    await producer.send(topics.workflow_events, encode(event), key=wid.encode())
                await producer.send(topics.outcomes, encode(outcome), key=command.correlation_id.encode())
    finally:
        await producer.stop()
        await consumer.stop()


@pytest.fixture
async def gateway(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[tuple[httpx.AsyncClient, InMemoryQuery]]:
    settings = Settings.model_validate(
        {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": topics.prefix,
            "secret_key": Fernet.generate_key().decode(),
            "admin_api_key": ADMIN_KEY,
            "admin_api_key_sha256": None,
            "command_timeout_seconds": 15,
        }
    )
    query = InMemoryQuery()
    orchestrator = asyncio.create_task(stand_in_orchestrator(kafka_bootstrap, topics, query))
    async with AsyncExitStack() as stack:
        deps, directory = await build_deps(settings, stack)
        await asyncio.wait_for(directory.catch_up(), timeout=15)
        deps.query = query
        transport = httpx.ASGITransport(app=create_app(settings, deps))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as client:
            yield client, query
    orchestrator.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await orchestrator


async def test_write_webhook_delete_through_the_log(
    gateway: tuple[httpx.AsyncClient, InMemoryQuery], kafka_bootstrap: str, topics: Topics
) -> None:
    client, _ = gateway
    assert (await client.get("/readyz")).status_code == 200
    spec: dict[str, Any] = {
        "name": "w",
        "nodes": [{"id": "t", "type": "webhook", "parameters": {"secret": "s3cr3t", "methods": ["POST"]}}],
    }
    created = await client.post("/api/v1/workflows", json=spec)
    assert created.status_code == 201, created.text
    wid, hook = created.json()["id"], created.json()["webhookId"]

    # the routing table was synced before the 201: the webhook routes at once, and wants its signature
    body = b'{"amount": 5}'
    unsigned = await client.post(f"/api/webhooks/{hook}", content=body)
    assert unsigned.status_code == 401, unsigned.text
    signed = await client.post(
        f"/api/webhooks/{hook}",
        content=body,
        headers={"X-Webhook-Signature": sign("s3cr3t", body), "content-type": "application/json"},
    )
    assert signed.status_code == 200, signed.text
    execution_id = signed.json()["executionId"]
    seen = await read_until(
        kafka_bootstrap, topics.webhooks, lambda s: any(e.aggregate_id == execution_id for _, e in s)
    )
    [(key, delivery)] = [(k, e) for k, e in seen if e.aggregate_id == execution_id]
    assert key == execution_id.encode()
    received = delivery.payload_as(WebhookReceived)
    assert received.workflow_id == wid and received.payload["amount"] == 5
    assert "s3cr3t" not in delivery.model_dump_json()

    deleted = await client.delete(f"/api/v1/workflows/{wid}")
    assert deleted.status_code == 204, deleted.text
    gone = await client.post(f"/api/webhooks/{hook}", content=body)
    assert gone.status_code == 404, gone.text
