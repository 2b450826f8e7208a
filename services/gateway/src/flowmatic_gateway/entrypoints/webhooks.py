"""/api/webhooks/{webhookId}: where a webhook becomes an event (`WebhookReceived`, acks=all, before the 200)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import (
    ExecutionCancelled,
    ExecutionFailed,
    ExecutionSucceeded,
    ResponseProduced,
    WebhookReceived,
)
from flowmatic_gateway.domain.rate_limit import TokenBuckets
from flowmatic_gateway.domain.recorded_answer import first_answer
from flowmatic_gateway.domain.routing import WebhookRoute
from flowmatic_gateway.entrypoints.dependencies import AppSettings, Deps, GatewayDeps
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.entrypoints.webhook_admission import admit, now_of
from flowmatic_gateway.ports import BrokerUnavailableError, ExecutionSignal, QueryUnavailableError
from flowmatic_gateway.settings import Settings

router = APIRouter(tags=["webhooks"])
log = logging.getLogger(__name__)
WEBHOOK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
IDEMPOTENCY_HEADERS = ("idempotency-key", "webhook-id")


async def _route(deps: GatewayDeps, webhook_id: str, timeout_seconds: float) -> WebhookRoute:
    route = deps.webhooks.lookup(webhook_id)
    if route is None:
        # A miss may be a webhook created a moment ago through another gateway: read the log to its end first.
        try:
            await asyncio.wait_for(deps.webhooks.sync(), timeout=timeout_seconds)
        except (TimeoutError, RuntimeError) as error:
            log.warning("webhook routes could not catch up: %r", error)
            raise ProblemError(503, "Webhook routes unavailable", "try again shortly") from None
        route = deps.webhooks.lookup(webhook_id)
    if route is None:
        # Unknown ids are not recorded: anyone can make them up, and the audit log is for real webhooks.
        raise ProblemError(404, detail="no active webhook with this id")
    return route


def _rate_limits(request: Request) -> TokenBuckets | None:
    limits: TokenBuckets | None = getattr(request.app.state, "rate_limits", None)
    return limits


async def deliver(webhook_id: str, request: Request, deps: Deps, settings: AppSettings) -> Response:
    """Start an execution of the webhook's workflow with the request as its input."""
    route = await _route(deps, webhook_id, settings.command_timeout_seconds)
    payload = (await admit(route, request, deps, _rate_limits(request))).payload
    idempotency_key = next((request.headers[h] for h in IDEMPOTENCY_HEADERS if h in request.headers), None)
    if idempotency_key is None:
        return await _accept(deps, settings, route, payload, None)
    async with deps.delivery_locks.hold((webhook_id, idempotency_key)):
        try:
            earlier = await asyncio.wait_for(
                deps.ledger.find(webhook_id, idempotency_key, now_of(deps)), timeout=settings.command_timeout_seconds
            )
        except (TimeoutError, RuntimeError) as error:
            log.warning("the delivery ledger could not catch up: %r", error)
            raise ProblemError(503, "Deliveries unavailable", "duplicates cannot be checked now; try again") from None
        if earlier is None:
            return await _accept(deps, settings, route, payload, idempotency_key)
        if route.has_response_node:
            return await _original_answer(deps, route, earlier.execution_id)
        return _answer(webhook_id, earlier.workflow_id, earlier.execution_id)


async def _original_answer(deps: GatewayDeps, route: WebhookRoute, execution_id: str) -> Response:
    """A repeated synchronous delivery gets what the first one got: the recorded response or end of the run,
    or — when the first execution has not answered yet — the same wait the first caller had."""
    # Registered before reading the history, so an answer arriving in between is not missed.
    answer = deps.executions.register(execution_id)
    try:
        await deps.query.sync()  # everything already answered is then in the history read below
        found = await deps.query.get(f"/api/v1/executions/{quote(execution_id, safe='')}/events")
        signal = first_answer(orjson.loads(found.body).get("data", [])) if found.status == 200 else None
        if signal is None:
            with contextlib.suppress(TimeoutError):
                signal = await asyncio.wait_for(answer, timeout=route.response_timeout_seconds)
        return synchronous_answer(route, execution_id, signal)
    finally:
        deps.executions.discard(execution_id)


def _answer(webhook_id: str, workflow_id: str, execution_id: str, status: str = "RUNNING") -> JSONResponse:
    return JSONResponse(
        {
            "status": "success",
            "message": "Webhook received and workflow triggered",
            "webhookId": webhook_id,
            "workflowId": workflow_id,
            "executionId": execution_id,
            "executionStatus": status,
        }
    )


async def _accept(
    deps: GatewayDeps, settings: Settings, route: WebhookRoute, payload: dict[str, Any], idempotency_key: str | None
) -> Response:
    """Where a webhook becomes an event: WebhookReceived, acknowledged by the broker before the 200."""
    execution_id = ids.new_id(ids.EXECUTION)
    envelope = new_envelope(
        WebhookReceived(
            webhook_id=route.webhook_id,
            workflow_id=route.workflow_id,
            workflow_version=route.workflow_version,
            trigger_id=route.trigger_id,
            payload=payload,
            idempotency_key=idempotency_key,
            spec=route.spec,
        ),
        aggregate_id=execution_id,
        actor=Actor(kind="webhook", id=route.webhook_id),
        correlation_id=ids.new_id(ids.CORRELATION),
    )
    # Registered before the delivery is sent: the answer may come back before `send` returns.
    answer = deps.executions.register(execution_id) if route.has_response_node else None
    early_sync: asyncio.Task[None] | None = None
    try:
        try:
            await deps.deliveries.send(envelope)
        except BrokerUnavailableError:
            raise ProblemError(
                503, "Broker unavailable", "the delivery could not be recorded; nothing was started"
            ) from None
        if answer is None:
            await _sync_reads(deps, settings, execution_id)
            return _answer(route.webhook_id, route.workflow_id, execution_id)
        # The read side catches up with the delivery while the execution runs, off the caller's critical path.
        early_sync = asyncio.create_task(_sync_reads(deps, settings, execution_id))
        signal = None
        with contextlib.suppress(TimeoutError):
            signal = await asyncio.wait_for(answer, timeout=route.response_timeout_seconds)
        if signal is None or isinstance(signal, ResponseProduced):
            await early_sync
        else:
            # The answer reports how the execution ended: a GET right after it must show that end too.
            early_sync.cancel()
            await _sync_reads(deps, settings, execution_id)
        return synchronous_answer(route, execution_id, signal)
    finally:
        deps.executions.discard(execution_id)
        if early_sync is not None and not early_sync.done():
            early_sync.cancel()


async def _sync_reads(deps: GatewayDeps, settings: Settings, execution_id: str) -> None:
    # Read-your-writes: the query service shows the delivery as an execution once synced. The delivery is
    # already durable, so a slow read side only delays the answer; it never turns it into an error (a retry
    # would start a second execution).
    try:
        await asyncio.wait_for(deps.query.sync(), timeout=settings.command_timeout_seconds)
    except (QueryUnavailableError, TimeoutError) as error:
        log.warning("query service did not sync after delivery %s: %r", execution_id, error)


def synchronous_answer(route: WebhookRoute, execution_id: str, signal: ExecutionSignal | None) -> Response:
    """The answer of a webhook whose workflow has a response node, given what the execution did first."""
    if isinstance(signal, ResponseProduced):
        return response_of(signal)
    if isinstance(signal, ExecutionFailed):
        raise ProblemError(
            500,
            "Execution failed",
            "the execution failed before reaching a response node",
            extra={"executionId": execution_id},
        )
    if isinstance(signal, ExecutionSucceeded | ExecutionCancelled):
        status = "SUCCEEDED" if isinstance(signal, ExecutionSucceeded) else "CANCELLED"
        return _answer(route.webhook_id, route.workflow_id, execution_id, status)
    raise ProblemError(
        504,
        "Response timed out",
        f"no response within {route.response_timeout_seconds:g} s; the execution goes on",
        extra={"executionId": execution_id},
    )


def response_of(produced: ResponseProduced) -> Response:
    """A response node's answer: an object or list body as JSON, a string as text, nothing as an empty body."""
    headers = dict(produced.headers)
    declared = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    headers = {k: v for k, v in headers.items() if k.lower() not in {"content-type", "content-length"}}
    body = produced.body
    if body is None:
        content, media_type = b"", None
    elif isinstance(body, str):
        content, media_type = body.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        content, media_type = orjson.dumps(body), "application/json"
    return Response(content, status_code=produced.status_code, headers=headers, media_type=declared or media_type)


# One route per method: OpenAPI needs one operation id per method.
for _method in WEBHOOK_METHODS:
    router.add_api_route(
        "/api/webhooks/{webhook_id}",
        deliver,
        methods=[_method],
        summary="Deliver a webhook",
        operation_id=f"deliver_webhook_{_method.lower()}",
        response_class=Response,
    )
