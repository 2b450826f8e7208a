"""The processor against the real broker: outcomes, events, restore from snapshots, bad messages, two instances.
Every workflow event read back is checked against the hash chain (`Log.events`), across restarts and handovers."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from flowmatic_contracts import ids
from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, UpdateWorkflow
from flowmatic_contracts.envelope import Actor, Envelope, Payload, decode, encode, new_envelope
from flowmatic_contracts.events import CommandAccepted, CommandRejected
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import NodeSpec, WorkflowSpec
from flowmatic_devstack.pytest_plugin import TEST_PARTITIONS
from flowmatic_orchestrator.bootstrap import Orchestrator, build
from flowmatic_orchestrator.entrypoints.processor import ProcessorFailedError
from flowmatic_orchestrator.settings import Settings

pytestmark = pytest.mark.integration

ACTOR = Actor(kind="apiKey", id="key_it")
SPEC = WorkflowSpec(name="it", nodes=[NodeSpec(id="trigger", type="webhook"), NodeSpec(id="n", type="noop")])
DEADLINE_SECONDS = 30.0


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Poll `check` until it holds; fail with `what` after the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def orchestrator(kafka_bootstrap: str, topics: Topics, instance_id: str = "0") -> AsyncIterator[Orchestrator]:
    """An orchestrator running in-process, ready (joined its group) before it is handed out."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.prefix, instance_id=instance_id, poll_timeout_ms=50
    )
    async with AsyncExitStack() as stack:
        running = await build(settings, stack)
        task = asyncio.create_task(running.processor.run())
        try:
            await eventually(lambda: running.is_ready() or task.done(), f"orchestrator {instance_id} to be ready")
            assert not task.done(), task
            yield running
        finally:
            running.processor.stop()
            await task  # raises if the processor failed


class Log:
    """Sends commands and reads committed outcomes and workflow events."""

    def __init__(self, kafka_bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
        self._outcomes = self._reader(kafka_bootstrap)
        self._events = self._reader(kafka_bootstrap)
        self.seen_outcomes: dict[str, Envelope] = {}
        self.seen_events: dict[str, list[Envelope]] = {}
        self._last_hash: dict[str, str] = {}

    @staticmethod
    def _reader(kafka_bootstrap: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def start(self) -> None:
        await self._producer.start()
        for reader, topic in ((self._outcomes, self.topics.outcomes), (self._events, self.topics.workflow_events)):
            await reader.start()
            reader.assign([TopicPartition(topic, p) for p in range(TEST_PARTITIONS)])

    async def stop(self) -> None:
        await self._producer.stop()
        await self._outcomes.stop()
        await self._events.stop()

    async def send(self, payload: Payload, workflow_id: str) -> str:
        """Produce a command; returns its correlation id."""
        correlation_id = ids.new_id(ids.CORRELATION)
        envelope = new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, correlation_id=correlation_id)
        await self._producer.send_and_wait(self.topics.commands, encode(envelope), key=workflow_id.encode())
        return correlation_id

    async def send_raw(self, value: bytes, key: bytes) -> None:
        await self._producer.send_and_wait(self.topics.commands, value, key=key)

    async def outcome(self, correlation_id: str) -> Payload:
        async def arrived() -> bool:
            for records in (await self._outcomes.getmany(timeout_ms=100)).values():
                for record in records:
                    envelope = decode(record.value)
                    self.seen_outcomes[envelope.correlation_id] = envelope
            return correlation_id in self.seen_outcomes

        await eventually(arrived, f"the outcome of {correlation_id}")
        envelope = self.seen_outcomes[correlation_id]
        assert envelope.correlation_id == correlation_id
        return envelope.payload

    async def command(self, payload: Payload, workflow_id: str) -> Payload:
        return await self.outcome(await self.send(payload, workflow_id))

    async def events(self, workflow_id: str, count: int) -> list[Envelope]:
        """The committed events of a workflow, once there are at least `count`."""

        async def enough() -> bool:
            for records in (await self._events.getmany(timeout_ms=100)).values():
                for record in records:
                    envelope = decode(record.value)
                    # Each event links to the SHA-256 of the record value before it in its workflow (none first).
                    assert envelope.previous_hash == self._last_hash.get(envelope.aggregate_id), envelope
                    self._last_hash[envelope.aggregate_id] = hashlib.sha256(record.value).hexdigest()
                    self.seen_events.setdefault(envelope.aggregate_id, []).append(envelope)
            return len(self.seen_events.get(workflow_id, [])) >= count

        await eventually(enough, f"{count} events of {workflow_id}")
        return self.seen_events[workflow_id]


@pytest.fixture
async def log(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[Log]:
    opened = Log(kafka_bootstrap, topics)
    try:
        await opened.start()
        yield opened
    finally:
        await opened.stop()


def accepted(outcome: Payload) -> int:
    assert isinstance(outcome, CommandAccepted), outcome
    return outcome.version


def rejected(outcome: Payload) -> int:
    assert isinstance(outcome, CommandRejected), outcome
    return outcome.status


async def test_workflow_lifecycle_survives_a_restart_from_snapshots(
    kafka_bootstrap: str, topics: Topics, log: Log
) -> None:
    wid = ids.new_id(ids.WORKFLOW)
    async with orchestrator(kafka_bootstrap, topics):
        assert accepted(await log.command(CreateWorkflow(spec=SPEC), wid)) == 1
        assert rejected(await log.command(CreateWorkflow(spec=SPEC), wid)) == 409
        assert accepted(await log.command(UpdateWorkflow(spec=SPEC, expected_version=1), wid)) == 2
        assert rejected(await log.command(DeleteWorkflow(), ids.new_id(ids.WORKFLOW))) == 404

    # A new incarnation knows the workflow only from the snapshot topic: its commands were consumed already.
    async with orchestrator(kafka_bootstrap, topics) as restarted:
        assert restarted.processor.states.count() == 1
        assert rejected(await log.command(UpdateWorkflow(spec=SPEC, expected_version=1), wid)) == 412
        assert accepted(await log.command(UpdateWorkflow(spec=SPEC), wid)) == 3
        assert accepted(await log.command(DeleteWorkflow(expected_version=3), wid)) == 4
        assert rejected(await log.command(UpdateWorkflow(spec=SPEC), wid)) == 404
        assert rejected(await log.command(CreateWorkflow(spec=SPEC), wid)) == 409

    events = await log.events(wid, 4)
    assert [(e.type, e.sequence) for e in events] == [
        ("WorkflowCreated", 1),
        ("WorkflowUpdated", 2),
        ("WorkflowUpdated", 3),
        ("WorkflowDeleted", 4),
    ]
    webhook_ids = {e.payload.model_dump()["webhooks"][0]["webhook_id"] for e in events[:3]}
    assert len(webhook_ids) == 1  # stable across updates and the restart
    assert events[3].payload.model_dump()["webhook_ids"] == list(webhook_ids)
    assert all(e.actor == ACTOR and e.causation_id for e in events)


async def test_a_bad_message_is_skipped_and_later_commands_are_processed(
    kafka_bootstrap: str, topics: Topics, log: Log
) -> None:
    wid = ids.new_id(ids.WORKFLOW)
    await log.send_raw(b"\x00\xffnot json at all", key=wid.encode())
    await log.send_raw(b'{"type": "CreateWorkflow", "payload": {}}', key=wid.encode())
    async with orchestrator(kafka_bootstrap, topics):
        assert accepted(await log.command(CreateWorkflow(spec=SPEC), wid)) == 1
        await log.send_raw(b"garbage again", key=wid.encode())
        assert accepted(await log.command(UpdateWorkflow(spec=SPEC), wid)) == 2


async def test_two_instances_share_the_partitions_and_hand_state_over(
    kafka_bootstrap: str, topics: Topics, log: Log
) -> None:
    workflow_ids = [ids.new_id(ids.WORKFLOW) for _ in range(8)]
    async with orchestrator(kafka_bootstrap, topics, "0") as first:
        for wid in workflow_ids:
            assert accepted(await log.command(CreateWorkflow(spec=SPEC), wid)) == 1
        async with orchestrator(kafka_bootstrap, topics, "1") as second:
            await eventually(
                lambda: bool(first.processor.assignment) and bool(second.processor.assignment),
                "both instances to own a partition",
            )
            assert not first.processor.assignment & second.processor.assignment
            # Range assignment: each partition number, of every consumed topic, belongs to one instance.
            numbers = [{tp.partition for tp in p.processor.assignment} for p in (first, second)]
            assert not numbers[0] & numbers[1]
            # Whichever instance owns a workflow now, it knows the workflow's version.
            for wid in workflow_ids:
                assert accepted(await log.command(UpdateWorkflow(spec=SPEC, expected_version=1), wid)) == 2
            assert first.processor.states.count() + second.processor.states.count() == len(workflow_ids)
        # The second instance left: the first takes every partition back, with the second's updates.
        for wid in workflow_ids:
            assert accepted(await log.command(UpdateWorkflow(spec=SPEC, expected_version=2), wid)) == 3


async def test_a_restarted_instance_fences_its_zombie(kafka_bootstrap: str, topics: Topics, log: Log) -> None:
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.prefix, poll_timeout_ms=50)
    first = ids.new_id(ids.WORKFLOW)
    workflow_ids = [ids.new_id(ids.WORKFLOW) for _ in range(20)]
    async with AsyncExitStack() as zombie_stack:
        zombie = await build(settings, zombie_stack)
        zombie_task = asyncio.create_task(zombie.processor.run())
        await eventually(zombie.is_ready, "the first incarnation to be ready")
        assert accepted(await log.command(CreateWorkflow(spec=SPEC), first)) == 1

        # The same instance id means the same transactional id: starting the successor fences the first one,
        # which keeps its share of the partitions until its next transaction fails.
        async with orchestrator(kafka_bootstrap, topics, "0") as successor:
            await eventually(lambda: bool(zombie.processor.assignment), "the zombie to own a partition again")
            correlations = [await log.send(CreateWorkflow(spec=SPEC), wid) for wid in workflow_ids]
            await eventually(zombie_task.done, "the zombie to give up")
            with pytest.raises(ProcessorFailedError) as failure:
                await zombie_task
            assert isinstance(failure.value.__cause__, ProducerFenced), repr(failure.value.__cause__)
            assert not zombie.is_ready()
            await zombie_stack.aclose()  # its consumer leaves the group; the successor takes every partition

            for correlation in correlations:
                assert accepted(await log.outcome(correlation)) == 1
            assert accepted(await log.command(UpdateWorkflow(spec=SPEC, expected_version=1), first)) == 2
            consumed = successor.processor.topics_consumed
            assert len(successor.processor.assignment) == TEST_PARTITIONS * len(consumed)

    # Nothing the zombie tried to write is visible: one WorkflowCreated per workflow in the committed log.
    for wid in workflow_ids:
        assert [(e.type, e.sequence) for e in await log.events(wid, 1)] == [("WorkflowCreated", 1)]
