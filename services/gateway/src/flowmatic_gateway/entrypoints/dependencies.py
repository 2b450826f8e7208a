"""What the routes are given: the ports bundle, the settings, the caller; as FastAPI `Annotated` aliases."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from flowmatic_gateway.domain.auth import ApiKeyRegistry, Principal, TokenSigner, looks_like_access_token
from flowmatic_gateway.domain.connectors import ConnectorCatalog
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.ports import (
    CommandBus,
    DeliveryLedger,
    ExecutionWatcher,
    OutcomeWaiter,
    QueryClient,
    Readiness,
    RejectionLog,
    SecretBox,
    WebhookDeliveries,
    WebhookDirectory,
)
from flowmatic_gateway.settings import Settings


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass
class GatewayDeps:
    """Every port the routes use; `bootstrap` wires real adapters, tests wire in-memory ones."""

    keys: ApiKeyRegistry
    tokens: TokenSigner
    commands: CommandBus
    outcomes: OutcomeWaiter
    query: QueryClient
    webhooks: WebhookDirectory
    deliveries: WebhookDeliveries
    ledger: DeliveryLedger
    executions: ExecutionWatcher
    secrets: SecretBox
    catalog: ConnectorCatalog
    readiness: Readiness
    rejections: RejectionLog
    clock: Callable[[], float] = field(default=time.time)
    # Serialises deliveries carrying the same idempotency key on this instance, so the second sees the first.
    delivery_locks: KeyedLocks = field(default_factory=lambda: KeyedLocks())

    def authenticate(self, bearer: str) -> Principal | None:
        """The principal behind a bearer token: an access token, or an API key used directly."""
        if looks_like_access_token(bearer):
            return self.tokens.verify(bearer, self.clock())
        return self.keys.authenticate(bearer)


# The dependency functions are `async def` although they never await: FastAPI runs a plain `def` dependency
# in a worker thread, and a request should not take a thread just to read the app's state.
async def _deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        # Only reachable if a route outside /api/v1 asks for a caller: a wiring mistake, not a client error.
        raise RuntimeError("no authenticated principal on this request")
    return principal


Deps = Annotated[GatewayDeps, Depends(_deps)]
AppSettings = Annotated[Settings, Depends(_settings)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def require_scope(scope: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency answering 403 when the caller's token lacks `scope`."""

    async def check(request: Request) -> None:
        if not (await _principal(request)).may(scope):
            raise ProblemError(403, detail=f"this token lacks the {scope} scope")

    return check
