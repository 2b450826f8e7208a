"""What the routes are given: the ports bundle, the settings, the caller; as FastAPI `Annotated` aliases."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from flowmatic_gateway.domain.auth import ApiKeyRegistry, Principal, TokenSigner, looks_like_access_token
from flowmatic_gateway.domain.connectors import ConnectorCatalog
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.ports import (
    CommandBus,
    OutcomeWaiter,
    QueryClient,
    Readiness,
    SecretBox,
    WebhookDeliveries,
    WebhookDirectory,
)
from flowmatic_gateway.settings import Settings


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
    secrets: SecretBox
    catalog: ConnectorCatalog
    readiness: Readiness
    clock: Callable[[], float] = field(default=time.time)

    def authenticate(self, bearer: str) -> Principal | None:
        """The principal behind a bearer token: an access token, or an API key used directly."""
        if looks_like_access_token(bearer):
            return self.tokens.verify(bearer, self.clock())
        return self.keys.authenticate(bearer)


def _deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _principal(request: Request) -> Principal:
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
        if not _principal(request).may(scope):
            raise ProblemError(403, detail=f"this token lacks the {scope} scope")

    return check
