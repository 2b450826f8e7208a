"""The webhook routing table: webhook id → the workflow and trigger it starts, folded from workflow events."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import WorkflowCreated, WorkflowDeleted, WorkflowUpdated
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_gateway.domain.rate_limit import RateLimit

DEFAULT_METHODS = ("POST", "GET")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RESPONSE_TIMEOUT_SECONDS = 30.0
DEFAULT_PREVIOUS_SECRET_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class WebhookRoute:
    """Where a delivery to one webhook goes and what it must satisfy."""

    webhook_id: str
    workflow_id: str
    workflow_version: int
    trigger_id: str
    methods: tuple[str, ...]
    active: bool
    encrypted_secret: str | None
    # the definition routed to (secrets stripped): WebhookReceived carries it so the execution is self-contained
    spec: WorkflowSpec
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    response_timeout_seconds: float = DEFAULT_RESPONSE_TIMEOUT_SECONDS
    has_response_node: bool = False
    # The trigger's own rate limit (`rateLimitPerSecond` / `rateLimitBurst`); None: the gateway's global one applies.
    rate_limit: RateLimit | None = None
    # Rotation: the secret replaced by the latest change of this trigger's secret, still accepted until then.
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None

    def secrets_valid_at(self, now: datetime) -> list[str]:
        """The ciphertexts a signature may be checked against at `now`: the current one, then the previous
        one while its rotation window lasts. Empty when the trigger has no secret (nothing to check)."""
        if self.encrypted_secret is None:
            return []
        valid = [self.encrypted_secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret is not None and expires is not None and now < expires:
            valid.append(self.previous_secret)
        return valid


@dataclass(frozen=True)
class WorkflowEntry:
    """The current definition of a live workflow, for starting executions of it."""

    workflow_id: str
    version: int
    spec: WorkflowSpec


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class RoutingTable:
    """Folds WorkflowCreated/Updated/Deleted into webhook routes and live workflows; other events are ignored.

    Secret rotation is folded here too, from the log alone: when an update gives a trigger a different secret
    ciphertext, the one it replaces stays valid for `previous_secret_ttl` after the update's `occurredAt`; an
    update that keeps the secret (same ciphertext) keeps that window; removing the secret ends it. Every
    gateway folds the same log, so every instance accepts the same secrets.
    """

    def __init__(self, previous_secret_ttl: timedelta = DEFAULT_PREVIOUS_SECRET_TTL) -> None:
        self._previous_secret_ttl = previous_secret_ttl
        self._routes: dict[str, WebhookRoute] = {}
        self._by_workflow: dict[str, set[str]] = {}
        self._workflows: dict[str, WorkflowEntry] = {}

    def lookup(self, webhook_id: str) -> WebhookRoute | None:
        return self._routes.get(webhook_id)

    def workflow(self, workflow_id: str) -> WorkflowEntry | None:
        """The live workflow with this id (None once deleted)."""
        return self._workflows.get(workflow_id)

    def __len__(self) -> int:
        return len(self._routes)

    def apply(self, envelope: Envelope) -> None:
        """Fold one event of the workflow-events topic into the table."""
        payload = envelope.payload
        workflow_id = envelope.aggregate_id
        if isinstance(payload, WorkflowCreated | WorkflowUpdated):
            before = {
                hook: self._routes[hook] for hook in self._by_workflow.get(workflow_id, set()) if hook in self._routes
            }
            self._drop_workflow(workflow_id)
            spec = payload.spec
            self._workflows[workflow_id] = WorkflowEntry(workflow_id, envelope.sequence, spec)
            has_response = any(node.type == "response" for node in spec.nodes)
            for binding in payload.webhooks:
                limits = self._trigger_limits(spec, binding.trigger_id)
                secret = payload.encrypted_secrets.get(binding.trigger_id)
                previous, expires = self._rotation(before.get(binding.webhook_id), secret, envelope.occurred_at)
                self._routes[binding.webhook_id] = WebhookRoute(
                    webhook_id=binding.webhook_id,
                    workflow_id=workflow_id,
                    workflow_version=envelope.sequence,
                    trigger_id=binding.trigger_id,
                    methods=tuple(m.upper() for m in binding.methods) or DEFAULT_METHODS,
                    active=spec.active,
                    encrypted_secret=secret,
                    previous_secret=previous,
                    previous_secret_expires_at=expires,
                    max_body_bytes=int(limits[0]),
                    response_timeout_seconds=limits[1],
                    has_response_node=has_response,
                    rate_limit=self._trigger_rate_limit(spec, binding.trigger_id),
                    spec=spec,
                )
                self._by_workflow.setdefault(workflow_id, set()).add(binding.webhook_id)
        elif isinstance(payload, WorkflowDeleted):
            self._drop_workflow(workflow_id)
            self._workflows.pop(workflow_id, None)
            for webhook_id in payload.webhook_ids:
                self._routes.pop(webhook_id, None)

    def _rotation(
        self, before: WebhookRoute | None, secret: str | None, changed_at: datetime
    ) -> tuple[str | None, datetime | None]:
        """The previous secret and its expiry after a write that leaves the trigger with `secret`."""
        if before is None or secret is None or before.encrypted_secret is None:
            return None, None
        if before.encrypted_secret == secret:  # kept: whatever window was open stays open
            return before.previous_secret, before.previous_secret_expires_at
        return before.encrypted_secret, changed_at + self._previous_secret_ttl

    @staticmethod
    def _trigger_limits(spec: WorkflowSpec, trigger_id: str) -> tuple[float, float]:
        node = spec.node(trigger_id)
        parameters = node.parameters if node is not None else {}
        max_body = _number(parameters.get("maxBodyBytes"), DEFAULT_MAX_BODY_BYTES)
        timeout = min(_number(parameters.get("responseTimeoutSeconds"), DEFAULT_RESPONSE_TIMEOUT_SECONDS), 30.0)
        return max_body, timeout

    @staticmethod
    def _trigger_rate_limit(spec: WorkflowSpec, trigger_id: str) -> RateLimit | None:
        """The trigger's own rate limit, if it sets one (validated when saved; anything else is read as unset)."""
        node = spec.node(trigger_id)
        parameters: Mapping[str, Any] = node.parameters if node is not None else {}
        rate = parameters.get("rateLimitPerSecond")
        if not _is_number(rate) or not 0 < rate < math.inf:
            return None
        burst = parameters.get("rateLimitBurst")
        return RateLimit.of_trigger(
            rate, burst if isinstance(burst, int) and not isinstance(burst, bool) and burst >= 1 else None
        )

    def _drop_workflow(self, workflow_id: str) -> None:
        for webhook_id in self._by_workflow.pop(workflow_id, set()):
            self._routes.pop(webhook_id, None)
