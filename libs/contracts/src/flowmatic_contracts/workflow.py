"""The workflow document: what a client writes, and what the log records of it.

Secrets never appear here in clear: the gateway strips `parameters.secret` from trigger nodes and carries it
encrypted (see `SecretChange`), so no event, snapshot or read model holds a webhook secret in clear.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowmatic_contracts.envelope import WireModel

NODE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TRIGGER_TYPES = frozenset({"webhook", "manual"})


class RetryPolicy(WireModel):
    """`maxAttempts` counts the first try; the wait doubles after each failed try, starting at `backoffSeconds`."""

    max_attempts: int = Field(default=1, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=3600)


class NodeSpec(WireModel):
    id: str = Field(pattern=NODE_ID_PATTERN)
    type: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)


class ConnectionSpec(WireModel):
    from_: str = Field(alias="from")
    to: str
    output: str = "main"


class WorkflowSpec(WireModel):
    """A workflow as a client writes it (POST/PUT body), less the read-only fields."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    active: bool = True
    nodes: list[NodeSpec]
    connections: list[ConnectionSpec] = Field(default_factory=list)
    # How long the query service keeps this workflow's finished executions in its read models (the log keeps
    # them forever, and they come back if the setting is lifted); None keeps them for good.
    execution_retention_days: int | None = Field(default=None, ge=1, le=36_500)

    def node(self, node_id: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.id == node_id), None)


class SecretChange(WireModel):
    """What a write does to one webhook trigger's secret: keep it (field omitted), remove it (null), or set it."""

    action: Literal["keep", "remove", "set"]
    ciphertext: str | None = None


class WebhookBinding(WireModel):
    """A webhook trigger's public address. `webhookId` is assigned by the orchestrator and stable for the life
    of its trigger node across updates."""

    webhook_id: str
    trigger_id: str
    methods: list[str]
    has_secret: bool
