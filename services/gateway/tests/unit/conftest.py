"""The gateway app over in-memory ports, driven through httpx.ASGITransport."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import CommandAccepted
from flowmatic_gateway.adapters.in_memory import (
    AlwaysReady,
    InMemoryBus,
    InMemoryDeliveryLedger,
    InMemoryExecutions,
    InMemoryOutcomes,
    InMemoryQuery,
    InMemoryRejectionLog,
    InMemoryWebhookDirectory,
)
from flowmatic_gateway.adapters.secret_box import FernetSecretBox
from flowmatic_gateway.bootstrap import api_keys
from flowmatic_gateway.domain.auth import TokenSigner, derive_signing_key
from flowmatic_gateway.domain.connectors import SharedCatalog
from flowmatic_gateway.entrypoints.app import create_app
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.settings import Settings

ADMIN_KEY = "test-admin-key"


@pytest.fixture
def settings() -> Settings:
    return Settings.model_validate(
        {
            "secret_key": Fernet.generate_key().decode(),
            "admin_api_key": ADMIN_KEY,
            "admin_api_key_sha256": None,
            "public_url": "https://flowmatic.test/",
            "command_timeout_seconds": 2,
        }
    )


@pytest.fixture
def outcomes() -> InMemoryOutcomes:
    return InMemoryOutcomes()


@pytest.fixture
def query() -> InMemoryQuery:
    return InMemoryQuery()


@pytest.fixture
def executions() -> InMemoryExecutions:
    return InMemoryExecutions()


@pytest.fixture
def directory() -> InMemoryWebhookDirectory:
    return InMemoryWebhookDirectory()


def accept_and_project(outcomes: InMemoryOutcomes, query: InMemoryQuery) -> Callable[[Envelope], None]:
    """Play the orchestrator and the query service: accept every command and project the workflow."""
    versions: dict[str, int] = {}

    def on_send(envelope: Envelope) -> None:
        payload = envelope.payload
        wid = envelope.aggregate_id
        versions[wid] = versions.get(wid, 0) + 1
        if isinstance(payload, CreateWorkflow | UpdateWorkflow):
            body = payload.spec.model_dump(mode="json", by_alias=True) | {"id": wid, "version": versions[wid]}
            query.responses[f"/api/v1/workflows/{wid}"] = (200, body)
        elif isinstance(payload, DeleteWorkflow):
            query.responses.pop(f"/api/v1/workflows/{wid}", None)
        outcomes.deliver(
            envelope.correlation_id,
            CommandAccepted(
                command_id=envelope.id, command_type=envelope.type, aggregate_id=wid, version=versions[wid]
            ),
        )

    return on_send


@pytest.fixture
def bus(outcomes: InMemoryOutcomes, query: InMemoryQuery) -> InMemoryBus:
    return InMemoryBus(on_send=accept_and_project(outcomes, query))


@pytest.fixture
def deliveries() -> InMemoryBus:
    return InMemoryBus()


@pytest.fixture
def rejections() -> InMemoryRejectionLog:
    return InMemoryRejectionLog()


@pytest.fixture
def deps(
    settings: Settings,
    bus: InMemoryBus,
    outcomes: InMemoryOutcomes,
    query: InMemoryQuery,
    directory: InMemoryWebhookDirectory,
    deliveries: InMemoryBus,
    executions: InMemoryExecutions,
    rejections: InMemoryRejectionLog,
) -> GatewayDeps:
    key = settings.secret_key.get_secret_value()
    return GatewayDeps(
        keys=api_keys(settings),
        tokens=TokenSigner(derive_signing_key(key.encode())),
        commands=bus,
        outcomes=outcomes,
        query=query,
        webhooks=directory,
        deliveries=deliveries,
        ledger=InMemoryDeliveryLedger(deliveries),
        executions=executions,
        secrets=FernetSecretBox(key),
        catalog=SharedCatalog(),
        readiness=AlwaysReady(),
        rejections=rejections,
        clock=time.time,
    )


@pytest.fixture
async def anon(settings: Settings, deps: GatewayDeps) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials. App exceptions become responses, as under a real server."""
    transport = httpx.ASGITransport(app=create_app(settings, deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


@pytest.fixture
async def api(settings: Settings, deps: GatewayDeps) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated with the admin API key."""
    transport = httpx.ASGITransport(app=create_app(settings, deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem body of a response that must be a problem+json with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    assert "Traceback" not in response.text
    return body


@pytest.fixture
def problem() -> Callable[[httpx.Response, int], dict[str, Any]]:
    return assert_problem
