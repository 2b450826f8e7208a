"""The gateway's ports: what its routes need from the outside world. Kafka, HTTP and in-memory adapters
implement them (see `adapters/`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import (
    CommandAccepted,
    CommandRejected,
    ExecutionCancelled,
    ExecutionFailed,
    ExecutionSucceeded,
    ResponseProduced,
)
from flowmatic_gateway.domain.deliveries import AcceptedDelivery
from flowmatic_gateway.domain.routing import WebhookRoute, WorkflowEntry

Outcome = CommandAccepted | CommandRejected
# What a synchronous webhook waits for: the response node's answer, or the end of the execution without one.
ExecutionSignal = ResponseProduced | ExecutionSucceeded | ExecutionFailed | ExecutionCancelled


class BrokerUnavailableError(RuntimeError):
    """The broker did not acknowledge a write: nothing may be answered with 2xx."""


class QueryUnavailableError(RuntimeError):
    """The query service could not be reached or failed."""


class CommandBus(Protocol):
    """Where commands go: returns once the broker has acknowledged the command (acks=all)."""

    async def send(self, envelope: Envelope) -> None: ...


class OutcomeWaiter(Protocol):
    """Resolves outcomes by correlation id. Register before sending, so no outcome can slip by unseen."""

    def register(self, correlation_id: str) -> asyncio.Future[Outcome]: ...

    def discard(self, correlation_id: str) -> None: ...


class WebhookDeliveries(Protocol):
    """Where accepted webhook deliveries go (topics.webhooks, acks=all)."""

    async def send(self, envelope: Envelope) -> None: ...


@dataclass(frozen=True)
class ForwardedResponse:
    """A query-service answer relayed as is."""

    status: int
    body: bytes
    content_type: str


class QueryClient(Protocol):
    """The query service, which serves every read."""

    async def sync(self) -> None:
        """Return once the read models include everything acknowledged before the call."""

    async def get(self, path: str, query: str = "") -> ForwardedResponse: ...


class WebhookDirectory(Protocol):
    """The webhook routing table, kept up to date from the workflow-events topic."""

    def lookup(self, webhook_id: str) -> WebhookRoute | None: ...

    def workflow(self, workflow_id: str) -> WorkflowEntry | None:
        """The live workflow with this id, as of the last sync."""

    async def sync(self) -> None:
        """Return once the table includes every workflow event committed before the call."""

    @property
    def caught_up(self) -> bool:
        """Whether the table has read the log as far as its end at startup."""


class Readiness(Protocol):
    """Whether the gateway can take writes."""

    async def ready(self) -> bool: ...


class SecretBox(Protocol):
    """Encrypts webhook secrets for the log and opens them to verify signatures."""

    def encrypt(self, secret: str) -> str: ...

    def decrypt(self, ciphertext: str) -> str: ...


class DeliveryLedger(Protocol):
    """Webhook deliveries accepted recently, by idempotency key."""

    async def find(self, webhook_id: str, idempotency_key: str, now: datetime) -> AcceptedDelivery | None:
        """The delivery first accepted with this key within 24 h, including any acknowledged before the call."""


class ExecutionWatcher(Protocol):
    """Resolves, by execution id, the first response or end of an execution. Register before starting it."""

    def register(self, execution_id: str) -> asyncio.Future[ExecutionSignal]: ...

    def discard(self, execution_id: str) -> None: ...


class RejectionLog(Protocol):
    """Where refused deliveries go for the audit log (`WebhookRejected`, topics.webhooks, keyed by webhook id).

    `record` returns at once: the rejection is answered without waiting for the broker.
    """

    def record(self, envelope: Envelope) -> None: ...
