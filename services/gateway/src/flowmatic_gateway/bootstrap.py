"""The composition root: real adapters for every port, opened in an AsyncExitStack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import httpx
from aiokafka.errors import KafkaError

from flowmatic_contracts.topics import Topics
from flowmatic_gateway.adapters.kafka_deliveries import KafkaDeliveryLedger
from flowmatic_gateway.adapters.kafka_outcomes import KafkaExecutionWatcher, KafkaOutcomeListener
from flowmatic_gateway.adapters.kafka_producer import KafkaProducerHealth, KafkaTopicWriter, acknowledged_producer
from flowmatic_gateway.adapters.kafka_rejections import KafkaRejectionLog
from flowmatic_gateway.adapters.kafka_routing import KafkaWebhookDirectory
from flowmatic_gateway.adapters.query_http import HttpQueryClient
from flowmatic_gateway.adapters.secret_box import FernetSecretBox
from flowmatic_gateway.catalog import connector_catalog
from flowmatic_gateway.domain.auth import ADMIN_KEY_ID, ApiKeyRegistry, TokenSigner, derive_signing_key, hash_api_key
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps
from flowmatic_gateway.settings import Settings

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass
class GatewayReadiness:
    """Ready when the producer is up and its last send succeeded, and the outcome and execution tails run."""

    producer: KafkaProducerHealth
    outcomes: KafkaOutcomeListener
    executions: KafkaExecutionWatcher
    probe: Callable[[], Awaitable[object]]

    async def ready(self) -> bool:
        if self.producer.started and self.producer.last_send_failed:
            # The last write failed: ask the broker again, so readiness recovers without waiting for a write.
            try:
                await asyncio.wait_for(self.probe(), timeout=2)
                self.producer.last_send_failed = False
            except (KafkaError, OSError, TimeoutError):
                return False
        return self.producer.ready() and self.outcomes.running and self.executions.running


def api_keys(settings: Settings) -> ApiKeyRegistry:
    """The bootstrap admin key, by its SHA-256 only."""
    keys = ApiKeyRegistry()
    if settings.admin_api_key_sha256:
        keys.add(ADMIN_KEY_ID, settings.admin_api_key_sha256)
    if settings.admin_api_key is not None:
        digest = hash_api_key(settings.admin_api_key.get_secret_value())
        if digest != settings.admin_api_key_sha256:
            keys.add(ADMIN_KEY_ID, digest)
    return keys


async def _start_with_retry(what: str, start: Callable[[], Awaitable[None]]) -> None:
    """Start a Kafka client, retrying while the broker comes up (bounded)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            await start()
            return
        except (KafkaError, OSError, RuntimeError) as error:
            if time.monotonic() > deadline:
                raise
            log.info("waiting for the broker (%s): %r", what, error)
            await asyncio.sleep(1)


async def build_deps(settings: Settings, stack: AsyncExitStack) -> tuple[GatewayDeps, KafkaWebhookDirectory]:
    """Open every adapter (closed by `stack`) and bundle them; the directory is returned to start its catch-up."""
    topics = Topics(prefix=settings.topic_prefix)
    secret_key = settings.secret_key.get_secret_value()
    secrets = FernetSecretBox(secret_key)

    health = KafkaProducerHealth()
    producer = acknowledged_producer(settings.kafka_bootstrap_servers, settings.command_timeout_seconds)
    await _start_with_retry("producer", producer.start)
    stack.push_async_callback(producer.stop)
    health.started = True

    outcomes = KafkaOutcomeListener(settings.kafka_bootstrap_servers, topics.outcomes)
    await _start_with_retry("outcomes", outcomes.start)
    stack.push_async_callback(outcomes.stop)

    executions = KafkaExecutionWatcher(settings.kafka_bootstrap_servers, topics.execution_events)
    await _start_with_retry("execution events", executions.start)
    stack.push_async_callback(executions.stop)

    directory = KafkaWebhookDirectory(
        settings.kafka_bootstrap_servers,
        topics.workflow_events,
        timedelta(seconds=settings.webhook_previous_secret_ttl_seconds),
    )
    await _start_with_retry("webhook routes", directory.start)
    stack.push_async_callback(directory.stop)

    ledger = KafkaDeliveryLedger(settings.kafka_bootstrap_servers, topics.webhooks)
    await _start_with_retry("webhook deliveries", ledger.start)
    stack.push_async_callback(ledger.stop)

    webhooks_topic = KafkaTopicWriter(producer, topics.webhooks, settings.command_timeout_seconds, health)
    rejections = KafkaRejectionLog(webhooks_topic)
    await rejections.start()
    stack.push_async_callback(rejections.stop)  # before the producer stops: queued rejections are written

    http = httpx.AsyncClient(base_url=settings.query_base, timeout=settings.command_timeout_seconds)
    stack.push_async_callback(http.aclose)

    deps = GatewayDeps(
        keys=api_keys(settings),
        tokens=TokenSigner(derive_signing_key(secret_key.encode("utf-8"))),
        commands=KafkaTopicWriter(producer, topics.commands, settings.command_timeout_seconds, health),
        outcomes=outcomes,
        query=HttpQueryClient(http),
        webhooks=directory,
        deliveries=webhooks_topic,
        ledger=ledger,
        executions=executions,
        secrets=secrets,
        catalog=connector_catalog(),
        readiness=GatewayReadiness(health, outcomes, executions, lambda: producer.partitions_for(topics.commands)),
        rejections=rejections,
    )
    return deps, directory
