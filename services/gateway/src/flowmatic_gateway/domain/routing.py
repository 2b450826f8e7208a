"""The webhook routing table: webhook id → the workflow and trigger it starts, folded from workflow events."""

from __future__ import annotations

from dataclasses import dataclass

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import WorkflowCreated, WorkflowDeleted, WorkflowUpdated
from flowmatic_contracts.workflow import WorkflowSpec

DEFAULT_METHODS = ("POST", "GET")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RESPONSE_TIMEOUT_SECONDS = 30.0


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


@dataclass(frozen=True)
class WorkflowEntry:
    """The current definition of a live workflow, for starting executions of it."""

    workflow_id: str
    version: int
    spec: WorkflowSpec


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class RoutingTable:
    """Folds WorkflowCreated/Updated/Deleted into webhook routes and live workflows; other events are ignored."""

    def __init__(self) -> None:
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
            self._drop_workflow(workflow_id)
            spec = payload.spec
            self._workflows[workflow_id] = WorkflowEntry(workflow_id, envelope.sequence, spec)
            has_response = any(node.type == "response" for node in spec.nodes)
            for binding in payload.webhooks:
                limits = self._trigger_limits(spec, binding.trigger_id)
                self._routes[binding.webhook_id] = WebhookRoute(
                    webhook_id=binding.webhook_id,
                    workflow_id=workflow_id,
                    workflow_version=envelope.sequence,
                    trigger_id=binding.trigger_id,
                    methods=tuple(m.upper() for m in binding.methods) or DEFAULT_METHODS,
                    active=spec.active,
                    encrypted_secret=payload.encrypted_secrets.get(binding.trigger_id),
                    max_body_bytes=int(limits[0]),
                    response_timeout_seconds=limits[1],
                    has_response_node=has_response,
                    spec=spec,
                )
                self._by_workflow.setdefault(workflow_id, set()).add(binding.webhook_id)
        elif isinstance(payload, WorkflowDeleted):
            self._drop_workflow(workflow_id)
            self._workflows.pop(workflow_id, None)
            for webhook_id in payload.webhook_ids:
                self._routes.pop(webhook_id, None)

    @staticmethod
    def _trigger_limits(spec: WorkflowSpec, trigger_id: str) -> tuple[float, float]:
        node = spec.node(trigger_id)
        parameters = node.parameters if node is not None else {}
        max_body = _number(parameters.get("maxBodyBytes"), DEFAULT_MAX_BODY_BYTES)
        timeout = min(_number(parameters.get("responseTimeoutSeconds"), DEFAULT_RESPONSE_TIMEOUT_SECONDS), 30.0)
        return max_body, timeout

    def _drop_workflow(self, workflow_id: str) -> None:
        for webhook_id in self._by_workflow.pop(workflow_id, set()):
            self._routes.pop(webhook_id, None)
