"""The gateway's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowmatic_gateway.entrypoints import auth, connectors, executions, health, reads, replay, webhooks, workflows
from flowmatic_gateway.entrypoints.auth_middleware import BearerAuthMiddleware
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.entrypoints.problems import (
    ProblemError,
    on_dependency_unavailable,
    on_http_exception,
    on_problem,
    on_request_validation,
    on_unexpected,
)
from flowmatic_gateway.entrypoints.webhook_admission import rate_limits_from
from flowmatic_gateway.ports import BrokerUnavailableError, QueryUnavailableError
from flowmatic_gateway.settings import Settings


def create_app(settings: Settings, deps: GatewayDeps) -> FastAPI:
    """The HTTP app over the given ports; starting and stopping those is the caller's job."""
    app = FastAPI(
        title="Flowmatic",
        version="1.0",
        description="Workflow automation: workflows, webhooks and executions through an event log.",
    )
    app.state.settings = settings
    app.state.deps = deps
    app.state.rate_limits = rate_limits_from(settings)
    app.add_middleware(BearerAuthMiddleware, deps=deps)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(QueryUnavailableError, on_dependency_unavailable)
    app.add_exception_handler(BrokerUnavailableError, on_dependency_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
    for module in (health, auth, connectors, workflows, executions, replay, reads, webhooks):
        app.include_router(module.router)
    return app
