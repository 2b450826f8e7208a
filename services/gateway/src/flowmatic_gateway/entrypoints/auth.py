"""POST /api/v1/auth/token: exchange an API key for a short-lived access token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import JSONResponse

from flowmatic_contracts.events import FieldError
from flowmatic_gateway.domain.auth import ALL_SCOPES, Principal
from flowmatic_gateway.domain.validation import path_of
from flowmatic_gateway.entrypoints.auth_middleware import CHALLENGE
from flowmatic_gateway.entrypoints.bodies import read_json
from flowmatic_gateway.entrypoints.dependencies import Deps
from flowmatic_gateway.entrypoints.problems import ProblemError

router = APIRouter(tags=["auth"])
TOKEN_BODY_LIMIT = 64 * 1024


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apiKey: str  # noqa: N815 - the wire name
    scopes: list[str] | None = None


_BODY_DOC: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": TokenRequest.model_json_schema()}}}
}


@router.post("/api/v1/auth/token", summary="Exchange an API key for an access token", openapi_extra=_BODY_DOC)
async def issue_token(request: Request, deps: Deps) -> JSONResponse:
    """200 with a bearer access token valid for an hour; optionally narrowed to some of the key's scopes."""
    try:
        body = TokenRequest.model_validate(await read_json(request, TOKEN_BODY_LIMIT))
    except ValidationError as error:
        errors = [FieldError(path=path_of(list(e["loc"])), message=e["msg"]) for e in error.errors()]
        raise ProblemError(422, detail="the token request is invalid", errors=errors) from None
    principal = deps.keys.authenticate(body.apiKey)
    if principal is None:
        raise ProblemError(401, detail="unknown API key", headers={"WWW-Authenticate": CHALLENGE})
    scopes = principal.scopes
    if body.scopes is not None:
        unknown = sorted(set(body.scopes) - ALL_SCOPES)
        if unknown:
            errors = [FieldError(path="scopes", message=f"unknown scope {s!r}") for s in unknown]
            raise ProblemError(422, detail="the token request is invalid", errors=errors)
        beyond = sorted(set(body.scopes) - principal.scopes)
        if beyond:
            raise ProblemError(403, detail=f"this key may not grant {', '.join(beyond)}")
        scopes = frozenset(body.scopes)
    token = deps.tokens.issue(Principal(principal.key_id, scopes), deps.clock())
    return JSONResponse(
        {
            "accessToken": token,
            "tokenType": "Bearer",
            "expiresIn": deps.tokens.ttl_seconds,
            "scope": " ".join(sorted(scopes)),
        },
        headers={"Cache-Control": "no-store"},
    )
