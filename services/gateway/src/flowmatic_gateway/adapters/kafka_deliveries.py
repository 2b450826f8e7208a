"""The index of recent webhook deliveries by idempotency key, followed from the webhooks topic (last 24 h)."""

from __future__ import annotations

import time
from datetime import datetime

from flowmatic_gateway.adapters.kafka_follower import KafkaTopicFollower
from flowmatic_gateway.domain.deliveries import DEDUPLICATION_WINDOW, AcceptedDelivery, DeliveryIndex


class KafkaDeliveryLedger:
    """Implements DeliveryLedger: `find` first reads the webhooks topic to its end, so a delivery acknowledged
    by any gateway before the call is seen."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._index = DeliveryIndex()
        window_ms = int(DEDUPLICATION_WINDOW.total_seconds() * 1000)
        self._follower = KafkaTopicFollower(
            bootstrap_servers,
            topic,
            self._index.apply,
            client_id="flowmatic-gateway-deliveries",
            since_ms=lambda: int(time.time() * 1000) - window_ms,
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def find(self, webhook_id: str, idempotency_key: str, now: datetime) -> AcceptedDelivery | None:
        await self._follower.sync()
        return self._index.find(webhook_id, idempotency_key, now)
