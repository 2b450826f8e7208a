"""The workflow aggregate's state: what the orchestrator needs to decide the next command."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from flowmatic_contracts.envelope import WireModel
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec


class WorkflowState(WireModel):
    """One workflow after its latest event. A deleted workflow is kept (not forgotten) so its id is never reused.

    `version` is the sequence of the latest event. `encrypted_secrets` maps trigger id to ciphertext; the clear
    secret is never known here. `last_event_hash` is the hash of the latest event's wire bytes, the next event's
    `previousHash` (None in snapshots written before the chain existed).
    """

    workflow_id: str
    version: int = Field(ge=1)
    deleted: bool = False
    spec: WorkflowSpec
    webhooks: list[WebhookBinding] = Field(default_factory=list)
    encrypted_secrets: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    last_event_hash: str | None = None

    def webhook_for(self, trigger_id: str) -> WebhookBinding | None:
        """The binding of a webhook trigger node, if that node exists and is a webhook trigger."""
        return next((w for w in self.webhooks if w.trigger_id == trigger_id), None)
