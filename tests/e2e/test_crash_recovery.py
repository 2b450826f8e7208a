"""SIGKILL each service in turn while clients keep creating workflows: nothing acknowledged is lost, nothing is
applied twice, and every service comes back.

"Acknowledged" means a 201: the gateway answers it only after the command's events are committed in Kafka and the
query service has projected them. Requests that fail during an outage (503, connection refused) were never
acknowledged; the clients simply carry on.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from flowmatic_devstack.harness import RunningStack

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "nodes": [{"id": "trigger", "type": "webhook"}, {"id": "pass", "type": "noop"}],
    "connections": [{"from": "trigger", "to": "pass"}],
}
WRITERS = 3
SERVICES = ["orchestrator", "query", "executor", "gateway"]


class Writers:
    """Clients that create workflows in a loop and remember every one acknowledged with 201."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.acknowledged: dict[str, str] = {}  # workflow id -> name
        self.refused: Counter[str] = Counter()
        self.names = (f"crash-{n}" for n in itertools.count())
        self.stopping = asyncio.Event()

    async def run_one(self) -> None:
        headers = {"Authorization": f"Bearer {self.stack.admin_key}"}
        async with httpx.AsyncClient(base_url=self.stack.gateway_url, headers=headers, timeout=40) as api:
            while not self.stopping.is_set():
                name = next(self.names)
                try:
                    resp = await api.post("/api/v1/workflows", json={"name": name, **SPEC})
                except httpx.TransportError as error:
                    self.refused[type(error).__name__] += 1
                    await asyncio.sleep(0.1)
                    continue
                if resp.status_code == 201:
                    body = resp.json()
                    assert body["name"] == name and body["version"] == 1
                    self.acknowledged[body["id"]] = name
                else:
                    # only an unavailable dependency may refuse a valid write, and always as problem+json
                    assert resp.status_code == 503, resp.text
                    assert resp.headers["content-type"].startswith("application/problem+json")
                    self.refused[str(resp.status_code)] += 1
                    await asyncio.sleep(0.1)

    async def until_more(self, count: int, within: float) -> None:
        """Wait until `count` more writes have been acknowledged (the stack is making progress)."""
        target = len(self.acknowledged) + count
        deadline = asyncio.get_running_loop().time() + within
        while len(self.acknowledged) < target:
            assert asyncio.get_running_loop().time() < deadline, f"no progress: {dict(self.refused)}"
            await asyncio.sleep(0.05)


async def created_events(stack: RunningStack) -> Counter[str]:
    """How many WorkflowCreated events each workflow has in the committed log."""
    topic = stack.topics.workflow_events
    # no group: the consumer is assigned every partition of the topic and starts from the beginning
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        first = await consumer.getmany(timeout_ms=5000)
        partitions = sorted(consumer.assignment())
        assert partitions
        ends = await consumer.end_offsets(partitions)
        counts: Counter[str] = Counter()
        batch = first
        while True:
            for records in batch.values():
                for record in records:
                    envelope = orjson.loads(record.value)
                    if envelope["type"] == "WorkflowCreated":
                        counts[envelope["aggregateId"]] += 1
            if not [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                return counts
            batch = await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


async def test_no_acknowledged_write_is_lost_when_any_service_is_killed(stack: RunningStack) -> None:
    writers = Writers(stack)
    tasks = [asyncio.create_task(writers.run_one()) for _ in range(WRITERS)]
    try:
        await writers.until_more(10, within=60)
        for service in SERVICES:
            stack.kill(service)
            await asyncio.sleep(1.0)  # let clients hit the outage
            await stack.restart(service)
            await writers.until_more(10, within=90)  # the stack recovered and is taking writes again
    finally:
        writers.stopping.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

    assert len(writers.acknowledged) >= 50
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=40) as api:
        for workflow_id, name in writers.acknowledged.items():
            got = await api.get(f"/api/v1/workflows/{workflow_id}")
            assert got.status_code == 200, (workflow_id, got.text)
            assert got.json()["name"] == name
        listed: set[str] = set()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, "name": "crash-"} | ({"cursor": cursor} if cursor else {})
            page = (await api.get("/api/v1/workflows", params=params)).json()
            listed |= {w["id"] for w in page["data"]}
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert set(writers.acknowledged) <= listed

    counts = await created_events(stack)
    assert all(counts[workflow_id] == 1 for workflow_id in writers.acknowledged), {
        w: counts[w] for w in writers.acknowledged if counts[w] != 1
    }
    assert all(n == 1 for n in counts.values()), "a command was applied twice"
    print(f"acknowledged={len(writers.acknowledged)} refused={dict(writers.refused)} created events={len(counts)}")


async def test_duplicate_deliveries_are_recognised_after_a_gateway_restart(stack: RunningStack) -> None:
    """The idempotency index is rebuilt from the log, so a gateway crash does not forget what it accepted."""
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=40) as api:
        workflow = (await api.post("/api/v1/workflows", json={"name": "dedup", **SPEC})).json()
        hook = f"/api/webhooks/{workflow['webhooks'][0]['webhookId']}"
        first = await api.post(hook, json={"n": 1}, headers={"Idempotency-Key": "order-1"})
        assert first.status_code == 200, first.text
    stack.kill("gateway")
    await stack.restart("gateway")
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=40) as api:
        again = await api.post(hook, json={"n": 1}, headers={"Idempotency-Key": "order-1"})
        assert again.status_code == 200, again.text
        assert again.json()["executionId"] == first.json()["executionId"]
        listed = (await api.get("/api/v1/executions", params={"workflowId": workflow["id"]})).json()["data"]
        assert [e["id"] for e in listed] == [first.json()["executionId"]]
