"""RFC 9457 problem details: every error the gateway answers is `application/problem+json`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from flowmatic_contracts.events import FieldError
from flowmatic_gateway.domain.validation import path_of

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


def title_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title or title_of(status), "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = [{"path": e.path, "message": e.message} for e in errors]
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or title_of(status))
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra

    def response(self) -> Response:
        return problem_response(
            self.status, self.title, self.detail, errors=self.errors, headers=self.headers, extra=self.extra
        )


async def on_problem(_: Request, error: Exception) -> Response:
    assert isinstance(error, ProblemError)
    return error.response()


PROBED_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path, found by asking the router (routes are one per
    method group, and included routers nest them)."""
    return [
        method
        for method in PROBED_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in request.app.router.routes
        )
    ]


async def on_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) and error.detail != title_of(error.status_code) else None
    headers = dict(error.headers or {})
    if error.status_code == 405:
        # Starlette names only the first route that matched the path; the client needs all of them.
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return problem_response(error.status_code, detail=detail, headers=headers)


async def on_request_validation(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = [FieldError(path=path_of(list(e.get("loc", ()))), message=str(e.get("msg", ""))) for e in error.errors()]
    return problem_response(422, detail="the request is invalid", errors=errors)


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, detail="an unexpected error occurred; it has been logged")


async def on_dependency_unavailable(request: Request, error: Exception) -> Response:
    """The broker or the query service is down: the client did nothing wrong and may retry, so 503, never 500.

    Handled once here rather than at every call site, so a dependency failing at any point of a request
    (even after the command was accepted) answers the same way.
    """
    log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, error)
    return problem_response(
        503, detail=f"a dependency is unavailable, try again: {error}", headers={"Retry-After": "1"}
    )
