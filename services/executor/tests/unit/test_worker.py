"""The worker's batch handling over fakes of the Kafka clients: what one transaction writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import TopicPartition

from flowmatic_contracts.envelope import SYSTEM, decode, encode, new_envelope
from flowmatic_contracts.events import StepFailed, StepRequested, StepSucceeded
from flowmatic_executor.domain.outcomes import Succeeded
from flowmatic_executor.entrypoints.steps import StepRunner
from flowmatic_executor.entrypoints.worker import StepWorker, WorkerFailedError

TOPIC = "t.step-requests"


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None


class FakeConsumer:
    def __init__(self, batches: list[dict[TopicPartition, list[Record]]], worker: list[StepWorker]) -> None:
        self.batches = batches
        self.worker = worker

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        if not self.batches:
            self.worker[0].stop()
            return {}
        return self.batches.pop(0)

    async def position(self, tp: TopicPartition) -> int:
        return 0


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.committed: list[tuple[list[tuple[str, bytes, bytes]], dict[TopicPartition, int]]] = []
        self._pending: list[tuple[str, bytes, bytes]] = []
        self._offsets: dict[TopicPartition, int] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self._pending, self._offsets = [], {}
        yield
        if self.fail:
            raise RuntimeError("ProducerFenced")
        self.committed.append((self._pending, self._offsets))

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        self._pending.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_offsets_to_transaction(self, offsets: dict[TopicPartition, int], group_id: str) -> None:
        self._offsets = dict(offsets)


class NoHttp:
    async def run(self, parameters: Any, *, idempotency_key: str, timeout_seconds: float) -> Any:
        raise AssertionError("no http in these tests")


def request(execution_id: str, node_type: str = "noop", parameters: dict[str, Any] | None = None) -> bytes:
    step = StepRequested(
        execution_id=execution_id,
        workflow_id="wf",
        workflow_version=1,
        node_id="n",
        node_type=node_type,
        attempt=1,
        parameters=parameters or {},
        input={"id": execution_id},
        context={},
    )
    return encode(new_envelope(step, aggregate_id=execution_id, actor=SYSTEM))


def worker_for(batches: list[dict[TopicPartition, list[Record]]], producer: FakeProducer) -> StepWorker:
    holder: list[StepWorker] = []
    worker = StepWorker(
        consumer=FakeConsumer(batches, holder),
        producer=producer,
        runner=StepRunner(NoHttp(), lambda: datetime(2026, 1, 1, tzinfo=UTC)),
        results_topic="t.step-results",
        group_id="t.executor",
    )
    holder.append(worker)
    return worker


async def test_a_batch_commits_its_results_with_its_offsets_and_skips_junk() -> None:
    p0, p1, p2 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1), TopicPartition(TOPIC, 2)
    batch = {
        p0: [
            Record(0, b"ex_a", request("ex_a")),
            Record(1, b"x", b"{junk"),
            Record(2, b"ex_b", request("ex_b", "fail", {"message": "m"})),
        ],
        p1: [Record(7, None, None)],
        p2: [Record(0, b"ex_c", request("ex_c"))],  # not assigned to this member: left alone
    }
    producer = FakeProducer()
    worker = worker_for([batch], producer)
    await worker._on_assigned([p0, p1])
    await worker.run()

    ((records, offsets),) = producer.committed
    assert offsets == {p0: 3, p1: 8}
    results = [(topic, key, decode(value)) for topic, key, value in records]
    assert [(t, k) for t, k, _ in results] == [("t.step-results", b"ex_a"), ("t.step-results", b"ex_b")]
    assert isinstance(results[0][2].payload, StepSucceeded) and results[0][2].payload.output == {"id": "ex_a"}
    assert isinstance(results[1][2].payload, StepFailed) and results[1][2].payload.error.message == "m"
    assert worker.steps_completed == 2 and worker.owned == frozenset({0, 1})


async def test_records_already_processed_are_not_run_again() -> None:
    p0 = TopicPartition(TOPIC, 0)
    producer = FakeProducer()
    first = [Record(0, b"ex_a", request("ex_a"))]
    worker = worker_for([{p0: first}, {p0: [*first, Record(1, b"ex_b", request("ex_b"))]}], producer)
    await worker._on_assigned([p0])
    await worker.run()
    assert [len(records) for records, _ in producer.committed] == [1, 1]
    assert [offsets for _, offsets in producer.committed] == [{p0: 1}, {p0: 2}]


async def test_a_failed_transaction_stops_the_worker() -> None:
    p0 = TopicPartition(TOPIC, 0)
    worker = worker_for([{p0: [Record(0, b"ex_a", request("ex_a"))]}], FakeProducer(fail=True))
    await worker._on_assigned([p0])
    with pytest.raises(WorkerFailedError):
        await worker.run()


async def test_a_failed_takeover_stops_the_worker() -> None:
    class BrokenConsumer(FakeConsumer):
        async def position(self, tp: TopicPartition) -> int:
            raise RuntimeError("coordinator gone")

    holder: list[StepWorker] = []
    worker = StepWorker(
        consumer=BrokenConsumer([{}], holder),
        producer=FakeProducer(),
        runner=StepRunner(NoHttp(), lambda: datetime(2026, 1, 1, tzinfo=UTC)),
        results_topic="r",
        group_id="g",
    )
    holder.append(worker)
    await worker._on_assigned([TopicPartition(TOPIC, 0)])
    with pytest.raises(WorkerFailedError):
        await worker.run()


async def test_a_connector_bug_fails_the_step_not_the_worker() -> None:
    class BrokenRunner(StepRunner):
        async def run(self, step: StepRequested) -> Succeeded:
            raise KeyError("bug")

    p0 = TopicPartition(TOPIC, 0)
    producer = FakeProducer()
    holder: list[StepWorker] = []
    worker = StepWorker(
        consumer=FakeConsumer([{p0: [Record(0, b"ex_a", request("ex_a"))]}], holder),
        producer=producer,
        runner=BrokenRunner(NoHttp(), lambda: datetime(2026, 1, 1, tzinfo=UTC)),
        results_topic="r",
        group_id="g",
    )
    holder.append(worker)
    await worker._on_assigned([p0])
    await worker.run()
    ((records, _),) = producer.committed
    failed = decode(records[0][2]).payload_as(StepFailed)
    assert "internal error" in failed.error.message and not failed.error.retryable
