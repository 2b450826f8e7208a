"""The webhook routing table, followed from every partition of the workflow-events topic.

No committed offsets: the table lives in memory and is rebuilt from offset 0 at each start.
"""

from __future__ import annotations

from datetime import timedelta

from flowmatic_gateway.adapters.kafka_follower import KafkaTopicFollower
from flowmatic_gateway.domain.routing import DEFAULT_PREVIOUS_SECRET_TTL, RoutingTable, WebhookRoute, WorkflowEntry


class KafkaWebhookDirectory:
    """Implements WebhookDirectory over a RoutingTable fed by the workflow-events topic."""

    def __init__(
        self, bootstrap_servers: str, topic: str, previous_secret_ttl: timedelta = DEFAULT_PREVIOUS_SECRET_TTL
    ) -> None:
        self._table = RoutingTable(previous_secret_ttl)
        self._follower = KafkaTopicFollower(
            bootstrap_servers, topic, self._table.apply, client_id="flowmatic-gateway-routing"
        )

    @property
    def caught_up(self) -> bool:
        return self._follower.caught_up

    def lookup(self, webhook_id: str) -> WebhookRoute | None:
        return self._table.lookup(webhook_id)

    def workflow(self, workflow_id: str) -> WorkflowEntry | None:
        return self._table.workflow(workflow_id)

    async def start(self) -> None:
        await self._follower.start()

    async def catch_up(self) -> None:
        await self._follower.catch_up()

    async def sync(self) -> None:
        await self._follower.sync()

    async def stop(self) -> None:
        await self._follower.stop()
