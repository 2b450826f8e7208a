"""500 webhooks while the orchestrator and an executor are SIGKILLed and restarted, with two orchestrators and
two executors sharing the partitions: every acknowledged webhook has exactly one execution, every one SUCCEEDED,
and no step is recorded twice in the log.

Each delivery carries an `Idempotency-Key`; a client whose call failed during an outage retries with the same key,
as a real sender would, so every one of the 500 is eventually acknowledged exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from flowmatic_devstack.harness import RunningStack

pytestmark = pytest.mark.integration

DELIVERIES = 500
CONCURRENCY = 16
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


async def deliver(hook_url: str, n: int, refused: Counter[str]) -> str:
    """POST one delivery until it is acknowledged; returns its execution id."""
    async with httpx.AsyncClient(timeout=40) as client:
        for _ in range(200):
            try:
                resp = await client.post(hook_url, json={"n": n}, headers={"Idempotency-Key": f"delivery-{n}"})
            except httpx.TransportError as error:
                refused[type(error).__name__] += 1
            else:
                if resp.status_code == 200:
                    body = resp.json()
                    assert body["executionStatus"] == "RUNNING"
                    return str(body["executionId"])
                assert resp.status_code == 503, resp.text  # only an outage may refuse a valid delivery
                refused[str(resp.status_code)] += 1
            await asyncio.sleep(0.2)
    raise AssertionError(f"delivery {n} never acknowledged")


class Progress:
    """How many deliveries have been acknowledged, awaitable."""

    def __init__(self) -> None:
        self.acknowledged = 0
        self.changed = asyncio.Condition()

    async def advance(self) -> None:
        async with self.changed:
            self.acknowledged += 1
            self.changed.notify_all()

    async def reached(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.acknowledged >= count)


async def chaos(stack: RunningStack, progress: Progress) -> list[str]:
    """Kill and restart the orchestrator, then an executor, while deliveries flow."""
    done: list[str] = []
    for name, after in (("orchestrator", 100), ("executor", 250)):
        await progress.reached(after)
        stack.kill(name)
        await asyncio.sleep(1.0)
        await stack.restart(name)
        done.append(name)
    return done


async def execution_log(stack: RunningStack) -> list[dict[str, Any]]:
    """Every committed execution event, read back from the beginning of the topic."""
    consumer = AIOKafkaConsumer(
        stack.topics.execution_events,
        bootstrap_servers=stack.kafka_bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        events: list[dict[str, Any]] = []
        while True:
            events += [orjson.loads(r.value) for records in batch.values() for r in records]
            if not [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                return events
            batch = await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


async def test_500_webhooks_through_crashes_run_exactly_once(stack: RunningStack) -> None:
    await stack.start_instance("orchestrator")
    await stack.start_instance("executor")
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=40) as api:
        workflow = (
            await api.post(
                "/api/v1/workflows",
                json={
                    "name": "faults",
                    "nodes": [
                        {"id": "trigger", "type": "webhook"},
                        {"id": "shape", "type": "set", "parameters": {"fields": {"n": "{{n}}"}}},
                        {"id": "done", "type": "noop"},
                    ],
                    "connections": [{"from": "trigger", "to": "shape"}, {"from": "shape", "to": "done"}],
                },
            )
        ).json()
        hook_url = workflow["webhooks"][0]["url"]

        refused: Counter[str] = Counter()
        progress = Progress()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> tuple[int, str]:
            async with gate:
                execution_id = await deliver(hook_url, n, refused)
                await progress.advance()
                return n, execution_id

        started = time.monotonic()
        chaos_task = asyncio.create_task(chaos(stack, progress))
        acknowledged = dict(await asyncio.gather(*(one(n) for n in range(DELIVERIES))))
        assert await chaos_task == ["orchestrator", "executor"]
        acknowledged_at = time.monotonic() - started

        assert len(acknowledged) == DELIVERIES
        assert len(set(acknowledged.values())) == DELIVERIES  # one execution per delivery, none shared

        deadline = time.monotonic() + 240
        pending = set(acknowledged.values())
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} executions still not finished"
            for execution_id in list(pending)[:50]:
                execution = (await api.get(f"/api/v1/executions/{execution_id}")).json()
                if execution["status"] in TERMINAL:
                    pending.discard(execution_id)
            await asyncio.sleep(0.2)
        finished_at = time.monotonic() - started

        for n, execution_id in acknowledged.items():
            execution = (await api.get(f"/api/v1/executions/{execution_id}")).json()
            assert execution["status"] == "SUCCEEDED", execution
            assert [s["nodeId"] for s in execution["steps"]] == ["trigger", "shape", "done"]
            assert execution["steps"][1]["output"] == {"n": n}

    events = await execution_log(stack)
    started_events = Counter(e["aggregateId"] for e in events if e["type"] == "ExecutionStarted")
    step_results = Counter((e["aggregateId"], e["payload"]["nodeId"]) for e in events if e["type"] == "StepSucceeded")
    sequences = Counter((e["aggregateId"], e["sequence"]) for e in events)
    assert all(started_events[x] == 1 for x in acknowledged.values())
    assert all(count == 1 for count in started_events.values()), "an execution was started twice"
    assert all(count == 1 for count in step_results.values()), "a step was recorded twice"
    assert all(count == 1 for count in sequences.values()), "an execution event sequence was written twice"
    print(
        f"\n{DELIVERIES} webhooks: all acknowledged after {acknowledged_at:.1f}s, all SUCCEEDED after "
        f"{finished_at:.1f}s; refused during outages: {dict(refused)}; executions in the log: {len(started_events)}"
    )
