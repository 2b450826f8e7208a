"""Bearer authentication in front of routing: nothing under /api/v1 is looked at before the caller is known.

Being middleware rather than a route dependency is what makes an unknown path, a wrong method or a bad body
answer 401 (not 404/405/422) to a caller without a valid token.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.entrypoints.problems import problem_response

PROTECTED_PREFIX = "/api/v1"
PUBLIC_PREFIX = "/api/v1/auth/"
CHALLENGE = 'Bearer realm="flowmatic"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="flowmatic", error="invalid_token"'


def needs_token(path: str) -> bool:
    """Whether a request path is behind bearer authentication."""
    protected = path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")
    return protected and not path.startswith(PUBLIC_PREFIX)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when the header is absent or another scheme."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


class BearerAuthMiddleware:
    """Authenticates /api/v1/* (except /api/v1/auth/*) and puts the `Principal` on `request.state.principal`."""

    def __init__(self, app: ASGIApp, deps: GatewayDeps) -> None:
        self.app = app
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_token(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope).get("authorization"))
        if token is None:
            response = problem_response(
                401,
                detail="this endpoint needs an Authorization: Bearer token",
                headers={"WWW-Authenticate": CHALLENGE},
            )
            await response(scope, receive, send)
            return
        principal = self.deps.authenticate(token) if token else None
        if principal is None:
            response = problem_response(
                401,
                detail="the bearer token is invalid or expired",
                headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
