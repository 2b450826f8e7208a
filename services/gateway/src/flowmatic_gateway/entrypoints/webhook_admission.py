"""What a delivery to a known webhook must pass before it becomes an event: method (405), rate limit (429), body
size while streaming (413), signature (401), a parsable body (400). Each refusal is answered at once and recorded
for the audit log as a `WebhookRejected` (reason, sizes, source address; never the body or the secret)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from flowmatic_contracts import ids
from flowmatic_contracts.envelope import Actor, new_envelope
from flowmatic_contracts.events import WebhookRejected
from flowmatic_gateway.domain.rate_limit import RateLimit, TokenBuckets, retry_after_header
from flowmatic_gateway.domain.routing import WebhookRoute
from flowmatic_gateway.domain.signatures import verify_delivery
from flowmatic_gateway.domain.webhook_payload import WebhookBodyError, build_payload
from flowmatic_gateway.entrypoints.bodies import BodyMeter, read_body
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.entrypoints.problems import ProblemError
from flowmatic_gateway.settings import Settings

log = logging.getLogger(__name__)
# The reason recorded for a refusal raised without one of its own (the body limit, in `read_body`).
REASON_BY_STATUS = {400: "malformed_body", 401: "signature_invalid", 404: "workflow_inactive",
                    405: "method_not_allowed", 413: "body_too_large", 429: "rate_limited"}  # fmt: skip


class DeliveryRefusedError(ProblemError):
    """A refusal of a delivery to a known webhook, with the reason code the audit log records."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail=detail, headers=headers)
        self.reason = reason


@dataclass(frozen=True)
class AdmittedDelivery:
    """A delivery that passed every check: its payload, ready to become a WebhookReceived."""

    payload: dict[str, Any]


def rate_limits_from(settings: Settings) -> TokenBuckets:
    """The per-webhook token buckets, under the global limit the settings ask for (None: off unless a trigger
    sets its own)."""
    rate = settings.webhook_rate_limit_per_second
    if rate is None:
        return TokenBuckets()
    return TokenBuckets(RateLimit(rate, settings.webhook_rate_limit_burst or max(1.0, rate)))


def now_of(deps: GatewayDeps) -> datetime:
    return datetime.fromtimestamp(deps.clock(), UTC)


async def admit(
    route: WebhookRoute, request: Request, deps: GatewayDeps, limits: TokenBuckets | None
) -> AdmittedDelivery:
    """Check a delivery; a refusal raises DeliveryRefusedError after recording it for the audit log."""
    meter = BodyMeter()
    try:
        return await _checked(route, request, deps, limits, meter)
    except ProblemError as refused:
        if 400 <= refused.status < 500:
            record_rejection(deps, route, request, refused, meter)
        raise


async def _checked(
    route: WebhookRoute, request: Request, deps: GatewayDeps, limits: TokenBuckets | None, meter: BodyMeter
) -> AdmittedDelivery:
    if not route.active:
        raise DeliveryRefusedError(404, "workflow_inactive", "no active webhook with this id")
    if request.method not in route.methods:
        allow = {"Allow": ", ".join(route.methods)}
        raise DeliveryRefusedError(405, "method_not_allowed", "this webhook does not accept this method", allow)
    if limits is not None:
        # The trigger's own limit when it sets one, else the global default, else none (see TokenBuckets).
        wait = limits.take(route.webhook_id, deps.clock(), route.rate_limit)
        if wait is not None:
            retry_after = {"Retry-After": retry_after_header(wait)}
            raise DeliveryRefusedError(429, "rate_limited", "too many deliveries to this webhook", retry_after)
    body = await read_body(request, route.max_body_bytes, meter)
    now = now_of(deps)
    secrets = [deps.secrets.decrypt(ciphertext) for ciphertext in route.secrets_valid_at(now)]
    verdict = verify_delivery(secrets, body, request.headers, deps.clock())
    if not verdict.ok:
        raise DeliveryRefusedError(401, verdict.reason, verdict.detail)
    try:
        payload = build_payload(
            webhook_id=route.webhook_id,
            trigger_id=route.trigger_id,
            method=request.method,
            headers=request.headers.items(),
            query=request.query_params.multi_items(),
            content_type=request.headers.get("content-type"),
            body=body,
            received_at=now.isoformat().replace("+00:00", "Z"),
        )
    except WebhookBodyError as error:
        raise DeliveryRefusedError(400, "malformed_body", str(error)) from None
    return AdmittedDelivery(payload)


def record_rejection(
    deps: GatewayDeps, route: WebhookRoute, request: Request, refused: ProblemError, meter: BodyMeter
) -> None:
    """Hand a WebhookRejected to the rejection log; it is produced in the background, never awaited here."""
    reason = refused.reason if isinstance(refused, DeliveryRefusedError) else REASON_BY_STATUS.get(refused.status)
    declared = request.headers.get("content-length", "")
    event = WebhookRejected(
        webhook_id=route.webhook_id,
        workflow_id=route.workflow_id,
        status=refused.status,
        reason=reason or "refused",
        method=request.method,
        received_bytes=meter.received,
        declared_bytes=int(declared) if declared.isdigit() and len(declared) < 19 else None,
        source_address=request.client.host if request.client is not None else None,
    )
    envelope = new_envelope(
        event,
        aggregate_id=route.webhook_id,
        actor=Actor(kind="webhook", id=route.webhook_id),
        correlation_id=ids.new_id(ids.CORRELATION),
    )
    try:
        deps.rejections.record(envelope)
    except Exception:  # the audit trail failing must not change the answer to the sender
        log.exception("recording a rejected delivery to %s failed", route.webhook_id)
