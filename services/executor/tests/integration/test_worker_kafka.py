"""The executor against the real broker: StepRequested in, StepSucceeded / StepFailed out, exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from flowmatic_contracts.envelope import Actor, Envelope, decode, encode, new_envelope
from flowmatic_contracts.events import StepFailed, StepRequested, StepSucceeded
from flowmatic_contracts.expressions import step_context
from flowmatic_contracts.topics import Topics
from flowmatic_devstack.testing import EchoServer
from flowmatic_executor.bootstrap import open_worker
from flowmatic_executor.entrypoints.worker import StepWorker
from flowmatic_executor.settings import Settings

pytestmark = pytest.mark.integration

ACTOR = Actor(kind="webhook", id="wh_test")
DEADLINE_SECONDS = 30


@pytest.fixture
def http_server() -> Iterator[EchoServer]:
    """A local HTTP server on 127.0.0.1 that echoes JSON and records each request."""
    server = EchoServer()
    yield server
    server.close()


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    for _ in range(DEADLINE_SECONDS * 20):
        if condition() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def settings_for(kafka_bootstrap: str, topics: Topics, instance: str = "0") -> Settings:
    return Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topics.prefix,
        instance_id=f"{instance}-{uuid.uuid4().hex[:6]}",
        http_allow_private_networks=True,
        poll_timeout_ms=50,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[StepWorker]:
    """An executor worker running in-process until the block ends."""
    async with AsyncExitStack() as stack:
        worker = await open_worker(settings, stack)
        task = asyncio.create_task(worker.run())
        try:
            yield worker
        finally:
            worker.stop()
            await task


def step_request(
    execution_id: str, node_id: str, node_type: str, parameters: dict[str, Any], execution_input: Any
) -> Envelope:
    payload = StepRequested(
        execution_id=execution_id,
        workflow_id="wf_it",
        workflow_version=1,
        node_id=node_id,
        node_type=node_type,
        attempt=1,
        parameters=parameters,
        input=execution_input,
        context=step_context(
            execution_input=execution_input,
            node_outputs={},
            execution_id=execution_id,
            workflow_id="wf_it",
            workflow_version=1,
        ),
        timeout_seconds=5,
    )
    return new_envelope(payload, aggregate_id=execution_id, actor=ACTOR, correlation_id=f"cor-{execution_id}")


async def produce(kafka_bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


class Results:
    """Reads step results with read_committed, as the orchestrator does."""

    def __init__(self, kafka_bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, isolation_level="read_committed", auto_offset_reset="earliest"
        )
        self.seen: list[tuple[bytes, Envelope]] = []

    async def __aenter__(self) -> Results:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def wait_for(self, count: int) -> list[tuple[bytes, Envelope]]:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(self.seen) < count and time.monotonic() < deadline:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                self.seen.extend((r.key, decode(r.value)) for r in records)
        assert len(self.seen) >= count, f"only {len(self.seen)} of {count} results arrived"
        return self.seen

    async def settle(self) -> None:
        """Read for a moment longer, so a duplicate would show up."""
        batch = await self._consumer.getmany(timeout_ms=1500)
        for records in batch.values():
            self.seen.extend((r.key, decode(r.value)) for r in records)


async def committed_lag(kafka_bootstrap: str, settings: Settings) -> int:
    """How many step requests the group has not committed as consumed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(settings.group_id)
    finally:
        await admin.close()
    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, isolation_level="read_committed")
    await probe.start()
    try:
        partitions = [tp for tp in committed if tp.topic == settings.topics.step_requests]
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
    return sum(ends[tp] - committed[tp].offset for tp in partitions)


async def test_steps_run_once_and_results_commit_with_offsets(
    kafka_bootstrap: str, topics: Topics, http_server: EchoServer
) -> None:
    base_url, recorded = http_server.url, http_server
    trigger = {"customer_id": "cust_123", "data": {"amount": 99.99}}
    requests = [
        step_request(
            "ex_set", "shape", "set", {"fields": {"total": "{{data.amount}}", "ex": "{{$execution.id}}"}}, trigger
        ),
        step_request(
            "ex_if", "gate", "if", {"conditions": [{"left": "{{data.amount}}", "operator": "gt", "right": 50}]}, trigger
        ),
        step_request("ex_fail", "stop", "fail", {"message": "no stock for {{customer_id}}"}, trigger),
        step_request("ex_bad", "pause", "delay", {"seconds": "{{customer_id}}"}, trigger),
        step_request(
            "ex_http",
            "call",
            "http_request",
            {"method": "POST", "url": base_url + "/orders/{{customer_id}}", "body": {"amount": "{{data.amount}}"}},
            trigger,
        ),
    ]
    settings = settings_for(kafka_bootstrap, topics)
    messages = [(b"ex_junk", b"not json at all")] + [(r.aggregate_id.encode(), encode(r)) for r in requests]
    await produce(kafka_bootstrap, topics.step_requests, messages)

    async with Results(kafka_bootstrap, topics.step_results) as results:
        async with running(settings):
            await results.wait_for(len(requests))
            await results.settle()
        by_execution = {envelope.aggregate_id: (key, envelope) for key, envelope in results.seen}
        assert len(results.seen) == len(requests) == len(by_execution)  # one result each, the junk skipped

        for request in requests:
            key, result = by_execution[request.aggregate_id]
            assert key == request.aggregate_id.encode()
            assert (result.causation_id, result.correlation_id, result.actor) == (
                request.id,
                request.correlation_id,
                ACTOR,
            )

        assert by_execution["ex_set"][1].payload == StepSucceeded(
            node_id="shape", attempt=1, output={"total": 99.99, "ex": "ex_set"}
        )
        gate = by_execution["ex_if"][1].payload_as(StepSucceeded)
        assert (gate.output_name, gate.output) == ("true", trigger)
        stop = by_execution["ex_fail"][1].payload_as(StepFailed)
        assert (stop.error.message, stop.error.retryable) == ("no stock for cust_123", False)
        bad = by_execution["ex_bad"][1].payload_as(StepFailed)
        assert "parameters.seconds" in bad.error.message and not bad.error.retryable

        call = by_execution["ex_http"][1].payload_as(StepSucceeded)
        assert call.output["status"] == 200
        assert call.output["body"] == {"received": {"amount": 99.99}, "path": "/orders/cust_123"}
        (sent,) = recorded.requests
        assert sent["headers"]["idempotency-key"] == "ex_http:call:1"
        assert sent["headers"]["content-type"] == "application/json"

        assert await committed_lag(kafka_bootstrap, settings) == 0

        # A restarted executor resumes after the committed offsets: only the new request runs.
        extra = step_request("ex_after", "pass", "noop", {}, {"n": 1})
        await produce(kafka_bootstrap, topics.step_requests, [(b"ex_after", encode(extra))])
        async with running(settings):
            await results.wait_for(len(requests) + 1)
            await results.settle()
        assert [e.aggregate_id for _, e in results.seen].count("ex_after") == 1
        assert len(results.seen) == len(requests) + 1
        assert len(recorded.requests) == 1


async def test_two_executors_share_the_partitions(kafka_bootstrap: str, topics: Topics) -> None:
    first_settings = settings_for(kafka_bootstrap, topics, "a")
    second_settings = settings_for(kafka_bootstrap, topics, "b")
    async with running(first_settings) as first, running(second_settings) as second:
        await eventually(lambda: bool(first.owned and second.owned))
        assert first.owned and second.owned, "both executors should own a partition"
        assert not first.owned & second.owned

        requests = [step_request(f"ex_{i:03d}", "pass", "noop", {}, {"i": i}) for i in range(40)]
        await produce(kafka_bootstrap, topics.step_requests, [(r.aggregate_id.encode(), encode(r)) for r in requests])
        async with Results(kafka_bootstrap, topics.step_results) as results:
            await results.wait_for(len(requests))
            await results.settle()
        assert sorted(e.aggregate_id for _, e in results.seen) == sorted(r.aggregate_id for r in requests)
        assert first.steps_completed > 0 and second.steps_completed > 0
        assert first.steps_completed + second.steps_completed == len(requests)
