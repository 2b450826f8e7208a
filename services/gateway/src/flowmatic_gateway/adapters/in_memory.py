"""In-memory implementations of the gateway's ports, for tests and for reasoning about the routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

import orjson

from flowmatic_contracts.envelope import Envelope
from flowmatic_gateway.domain.deliveries import AcceptedDelivery, DeliveryIndex
from flowmatic_gateway.domain.routing import RoutingTable, WebhookRoute, WorkflowEntry
from flowmatic_gateway.ports import (
    BrokerUnavailableError,
    ExecutionSignal,
    ForwardedResponse,
    Outcome,
    QueryUnavailableError,
)

T = TypeVar("T")


class InMemoryWaiters(Generic[T]):
    """An OutcomeWaiter / ExecutionWatcher whose values are delivered by calling `deliver`."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[T]] = {}

    def register(self, key: str) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        return future

    def discard(self, key: str) -> None:
        self.waiting.pop(key, None)

    def deliver(self, key: str, value: T) -> None:
        future = self.waiting.get(key)
        if future is not None and not future.done():
            future.set_result(value)


InMemoryOutcomes = InMemoryWaiters[Outcome]
InMemoryExecutions = InMemoryWaiters[ExecutionSignal]


class InMemoryBus:
    """A CommandBus / WebhookDeliveries that records what it was sent.

    `on_send` lets a test play the orchestrator: it sees each envelope as it is sent. `unavailable` makes
    every send fail as a down broker would.
    """

    def __init__(self, on_send: Callable[[Envelope], None] | None = None) -> None:
        self.sent: list[Envelope] = []
        self.on_send = on_send
        self.unavailable = False

    async def send(self, envelope: Envelope) -> None:
        if self.unavailable:
            raise BrokerUnavailableError("broker down (fake)")
        self.sent.append(envelope)
        if self.on_send is not None:
            self.on_send(envelope)


class InMemoryQuery:
    """A QueryClient answering from a dict of path → (status, JSON body)."""

    def __init__(self) -> None:
        self.responses: dict[str, tuple[int, object]] = {}
        self.requests: list[tuple[str, str]] = []
        self.syncs = 0
        self.unavailable = False

    async def sync(self) -> None:
        if self.unavailable:
            raise QueryUnavailableError("query down (fake)")
        self.syncs += 1

    async def get(self, path: str, query: str = "") -> ForwardedResponse:
        if self.unavailable:
            raise QueryUnavailableError("query down (fake)")
        self.requests.append((path, query))
        status, body = self.responses.get(path, (404, {"type": "about:blank", "title": "Not Found", "status": 404}))
        content_type = "application/json" if status < 400 else "application/problem+json"
        return ForwardedResponse(status=status, body=orjson.dumps(body), content_type=content_type)


class InMemoryWebhookDirectory:
    """A WebhookDirectory over a RoutingTable that tests feed with `apply`."""

    def __init__(self) -> None:
        self.table = RoutingTable()
        self.syncs = 0
        self.caught_up = True

    def apply(self, envelope: Envelope) -> None:
        self.table.apply(envelope)

    def lookup(self, webhook_id: str) -> WebhookRoute | None:
        return self.table.lookup(webhook_id)

    def workflow(self, workflow_id: str) -> WorkflowEntry | None:
        return self.table.workflow(workflow_id)

    async def sync(self) -> None:
        self.syncs += 1


class InMemoryDeliveryLedger:
    """A DeliveryLedger fed by the deliveries a fake bus records."""

    def __init__(self, deliveries: InMemoryBus) -> None:
        self.deliveries = deliveries

    async def find(self, webhook_id: str, idempotency_key: str, now: datetime) -> AcceptedDelivery | None:
        index = DeliveryIndex()
        for envelope in self.deliveries.sent:
            index.apply(envelope)
        return index.find(webhook_id, idempotency_key, now)


class AlwaysReady:
    def __init__(self, ready: bool = True) -> None:
        self.is_ready = ready

    async def ready(self) -> bool:
        return self.is_ready


class InMemoryRejectionLog:
    """A RejectionLog that keeps what it was given."""

    def __init__(self) -> None:
        self.recorded: list[Envelope] = []

    def record(self, envelope: Envelope) -> None:
        self.recorded.append(envelope)
