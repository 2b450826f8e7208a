"""The gateway's Kafka adapters against the real broker: commands, outcomes, the webhook routing table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from flowmatic_contracts import ids
from flowmatic_contracts.commands import CreateWorkflow
from flowmatic_contracts.envelope import SYSTEM, Actor, Envelope, new_envelope
from flowmatic_contracts.events import (
    CommandAccepted,
    ExecutionSucceeded,
    ResponseProduced,
    WebhookReceived,
    WorkflowCreated,
    WorkflowDeleted,
)
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import WebhookBinding, WorkflowSpec
from flowmatic_gateway.adapters.kafka_deliveries import KafkaDeliveryLedger
from flowmatic_gateway.adapters.kafka_outcomes import KafkaExecutionWatcher, KafkaOutcomeListener
from flowmatic_gateway.adapters.kafka_producer import KafkaProducerHealth, KafkaTopicWriter, acknowledged_producer
from flowmatic_gateway.adapters.kafka_routing import KafkaWebhookDirectory

from .conftest import read_until, write_in_transaction

pytestmark = pytest.mark.integration

SPEC = WorkflowSpec.model_validate({"name": "w", "nodes": [{"id": "trigger", "type": "webhook"}]})


def accepted(command: Envelope, version: int = 1) -> Envelope:
    return new_envelope(
        CommandAccepted(
            command_id=command.id, command_type=command.type, aggregate_id=command.aggregate_id, version=version
        ),
        aggregate_id=command.correlation_id,
        actor=SYSTEM,
        correlation_id=command.correlation_id,
        causation_id=command.id,
    )


def command() -> Envelope:
    return new_envelope(
        CreateWorkflow(spec=SPEC),
        aggregate_id=ids.new_id(ids.WORKFLOW),
        actor=Actor(kind="apiKey", id="admin"),
        correlation_id=ids.new_id(ids.CORRELATION),
    )


def created(workflow_id: str, webhook_id: str, version: int = 1) -> Envelope:
    return new_envelope(
        WorkflowCreated(
            spec=SPEC,
            webhooks=[WebhookBinding(webhook_id=webhook_id, trigger_id="trigger", methods=["POST"], has_secret=True)],
            encrypted_secrets={"trigger": "ciphertext"},
        ),
        aggregate_id=workflow_id,
        actor=SYSTEM,
        sequence=version,
    )


async def test_a_command_is_acknowledged_and_keyed_by_aggregate(kafka_bootstrap: str, topics: Topics) -> None:
    producer = acknowledged_producer(kafka_bootstrap, 10)
    await producer.start()
    try:
        health = KafkaProducerHealth()
        sent = command()
        await KafkaTopicWriter(producer, topics.commands, 10, health).send(sent)
    finally:
        await producer.stop()
    assert not health.last_send_failed
    seen = await read_until(kafka_bootstrap, topics.commands, lambda s: any(e.id == sent.id for _, e in s))
    [(key, envelope)] = [(k, e) for k, e in seen if e.id == sent.id]
    assert key == sent.aggregate_id.encode()
    assert envelope == sent


async def test_outcomes_resolve_from_committed_transactions_only(
    kafka_bootstrap: str, topics: Topics, transactional: Any
) -> None:
    listener = KafkaOutcomeListener(kafka_bootstrap, topics.outcomes)
    await listener.start()
    try:
        sent = command()
        future = listener.register(sent.correlation_id)
        aborted = accepted(sent, version=99)
        await write_in_transaction(transactional, topics.outcomes, aborted, abort=True)
        await write_in_transaction(transactional, topics.outcomes, accepted(sent, version=1))
        outcome = await asyncio.wait_for(future, timeout=15)
        assert isinstance(outcome, CommandAccepted) and outcome.version == 1
        assert outcome.command_id == sent.id
        # an outcome nobody waits for is dropped without harm
        await write_in_transaction(transactional, topics.outcomes, accepted(command()))
        listener.discard(sent.correlation_id)
        assert listener.running
    finally:
        await listener.stop()


async def test_outcomes_written_before_start_are_not_replayed(
    kafka_bootstrap: str, topics: Topics, transactional: Any
) -> None:
    old = command()
    await write_in_transaction(transactional, topics.outcomes, accepted(old))
    listener = KafkaOutcomeListener(kafka_bootstrap, topics.outcomes)
    await listener.start()
    try:
        stale = listener.register(old.correlation_id)
        fresh_command = command()
        fresh = listener.register(fresh_command.correlation_id)
        await write_in_transaction(transactional, topics.outcomes, accepted(fresh_command))
        await asyncio.wait_for(fresh, timeout=15)
        assert not stale.done()  # started from the end: the old outcome was never read
    finally:
        await listener.stop()


async def test_routing_table_is_built_from_workflow_events(
    kafka_bootstrap: str, topics: Topics, transactional: Any
) -> None:
    await write_in_transaction(
        transactional, topics.workflow_events, created("wf_a", "wh_a"), created("wf_b", "wh_b", version=1)
    )
    directory = KafkaWebhookDirectory(kafka_bootstrap, topics.workflow_events)
    await directory.start()
    try:
        assert not directory.caught_up
        await asyncio.wait_for(directory.catch_up(), timeout=15)
        assert directory.caught_up
        route = directory.lookup("wh_a")
        assert route is not None and route.workflow_id == "wf_a" and route.encrypted_secret == "ciphertext"
        assert route.methods == ("POST",) and route.spec == SPEC
        # a later delete is visible as soon as sync returns: read-your-writes for webhooks
        deleted = new_envelope(WorkflowDeleted(webhook_ids=["wh_a"]), aggregate_id="wf_a", actor=SYSTEM, sequence=2)
        await write_in_transaction(transactional, topics.workflow_events, deleted)
        await asyncio.wait_for(directory.sync(), timeout=15)
        assert directory.lookup("wh_a") is None
        assert directory.lookup("wh_b") is not None
        # an aborted write is never applied, and sync still returns (past the abort marker)
        await write_in_transaction(transactional, topics.workflow_events, created("wf_c", "wh_c"), abort=True)
        await asyncio.wait_for(directory.sync(), timeout=15)
        assert directory.lookup("wh_c") is None
    finally:
        await directory.stop()


async def test_delivery_ledger_finds_a_key_acknowledged_just_before(kafka_bootstrap: str, topics: Topics) -> None:
    ledger = KafkaDeliveryLedger(kafka_bootstrap, topics.webhooks)
    await ledger.start()
    producer = acknowledged_producer(kafka_bootstrap, 10)
    await producer.start()
    try:
        delivery = new_envelope(
            WebhookReceived(
                webhook_id="wh_1",
                workflow_id="wf_1",
                workflow_version=1,
                trigger_id="trigger",
                payload={},
                idempotency_key="key-1",
                spec=SPEC,
            ),
            aggregate_id=ids.new_id(ids.EXECUTION),
            actor=SYSTEM,
        )
        now = datetime.now(UTC)
        assert await asyncio.wait_for(ledger.find("wh_1", "key-1", now), timeout=15) is None
        await KafkaTopicWriter(producer, topics.webhooks, 10, KafkaProducerHealth()).send(delivery)
        found = await asyncio.wait_for(ledger.find("wh_1", "key-1", now), timeout=15)
        assert found is not None and found.execution_id == delivery.aggregate_id
        assert await ledger.find("wh_2", "key-1", now) is None
    finally:
        await producer.stop()
        await ledger.stop()


async def test_execution_watcher_resolves_by_execution_id(
    kafka_bootstrap: str, topics: Topics, transactional: Any
) -> None:
    watcher = KafkaExecutionWatcher(kafka_bootstrap, topics.execution_events)
    await watcher.start()
    try:
        execution_id = ids.new_id(ids.EXECUTION)
        future = watcher.register(execution_id)
        produced = new_envelope(
            ResponseProduced(node_id="reply", status_code=201, body={"ok": True}),
            aggregate_id=execution_id,
            actor=SYSTEM,
            sequence=4,
        )
        other = new_envelope(ExecutionSucceeded(output=None), aggregate_id=ids.new_id(ids.EXECUTION), actor=SYSTEM)
        await write_in_transaction(transactional, topics.execution_events, other, produced)
        signal = await asyncio.wait_for(future, timeout=15)
        assert isinstance(signal, ResponseProduced) and signal.status_code == 201
    finally:
        await watcher.stop()


async def test_sync_sees_a_transaction_committed_just_before(
    kafka_bootstrap: str, topics: Topics, transactional: Any
) -> None:
    """Read-your-writes for the routing table, commit after commit. (The marker race that made the barrier move
    to high watermarks did not reproduce against this broker in 3 x 30 tries with the old code; this test guards
    the guarantee, not that race.)"""
    directory = KafkaWebhookDirectory(kafka_bootstrap, topics.workflow_events)
    await directory.start()
    try:
        await asyncio.wait_for(directory.catch_up(), timeout=15)
        for n in range(30):
            await write_in_transaction(transactional, topics.workflow_events, created(f"wf_{n}", f"wh_{n}"))
            await directory.sync()
            assert directory.lookup(f"wh_{n}") is not None, f"commit {n} not visible after sync"
    finally:
        await directory.stop()


async def test_sync_is_not_held_up_by_a_transaction_left_open(
    kafka_bootstrap: str, topics: Topics, transactional: Any
) -> None:
    """A producer that died mid-transaction must not hold sync up until the broker times the transaction out
    (a minute by default): sync falls back to what is committed by the end of its grace period."""
    stalled = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"gw-stalled-{ids.new_id('t')}", enable_idempotence=True
    )
    await stalled.start()
    directory = KafkaWebhookDirectory(kafka_bootstrap, topics.workflow_events)
    await directory.start()
    try:
        await asyncio.wait_for(directory.catch_up(), timeout=15)
        await write_in_transaction(transactional, topics.workflow_events, created("wf_ok", "wh_ok"))
        await stalled.begin_transaction()
        for partition_key in ("a", "b", "c", "d"):  # leave every partition with an open transaction
            await stalled.send_and_wait(topics.workflow_events, b"{}", key=partition_key.encode())
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(directory.sync(), timeout=10)
        assert asyncio.get_running_loop().time() - started < 5
        assert directory.lookup("wh_ok") is not None
    finally:
        await directory.stop()
        await stalled.abort_transaction()
        await stalled.stop()
