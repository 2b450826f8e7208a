"""Producing commands and webhook deliveries with acks=all, keyed by aggregate id."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from flowmatic_contracts.envelope import Envelope, encode
from flowmatic_gateway.ports import BrokerUnavailableError

log = logging.getLogger(__name__)


def acknowledged_producer(bootstrap_servers: str, timeout_seconds: float) -> Any:
    """A producer whose sends return only once every in-sync replica has the record."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=int(timeout_seconds * 1000),
        client_id="flowmatic-gateway",
    )


class KafkaProducerHealth:
    """Whether the producer is started and its last send reached the broker."""

    def __init__(self) -> None:
        self.started = False
        self.last_send_failed = False

    def ready(self) -> bool:
        return self.started and not self.last_send_failed


class KafkaTopicWriter:
    """Writes envelopes to one topic, keyed by aggregate id; implements CommandBus and WebhookDeliveries."""

    def __init__(self, producer: Any, topic: str, timeout_seconds: float, health: KafkaProducerHealth) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout = timeout_seconds
        self._health = health

    async def send(self, envelope: Envelope) -> None:
        """Return once the broker has acknowledged the record; raise BrokerUnavailableError otherwise."""
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    self._topic, value=encode(envelope), key=envelope.aggregate_id.encode("utf-8")
                ),
                timeout=self._timeout,
            )
        except (KafkaError, TimeoutError) as error:
            self._health.last_send_failed = True
            log.warning("producing %s to %s failed: %r", envelope.type, self._topic, error)
            raise BrokerUnavailableError(f"the broker did not acknowledge the write: {type(error).__name__}") from error
        self._health.last_send_failed = False
