"""Duplicate webhook deliveries: an `Idempotency-Key` (or `webhook-id`) seen for the same webhook within 24 h
gets the original answer, folded from the WebhookReceived events in the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flowmatic_contracts.envelope import Envelope
from flowmatic_contracts.events import WebhookReceived

DEDUPLICATION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class AcceptedDelivery:
    """What the first delivery with a key was answered with."""

    execution_id: str
    workflow_id: str
    received_at: datetime


class DeliveryIndex:
    """(webhook id, idempotency key) → the delivery first accepted with it."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], AcceptedDelivery] = {}

    def apply(self, envelope: Envelope) -> None:
        payload = envelope.payload
        if not isinstance(payload, WebhookReceived) or payload.idempotency_key is None:
            return
        key = (payload.webhook_id, payload.idempotency_key)
        if key not in self._first:  # the first one wins; a duplicate that slipped through does not replace it
            self._first[key] = AcceptedDelivery(envelope.aggregate_id, payload.workflow_id, envelope.occurred_at)

    def find(self, webhook_id: str, idempotency_key: str, now: datetime) -> AcceptedDelivery | None:
        """The earlier delivery with this key, if it was within the window."""
        found = self._first.get((webhook_id, idempotency_key))
        if found is None or now - found.received_at > DEDUPLICATION_WINDOW:
            return None
        return found
