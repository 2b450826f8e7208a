"""Latency of synchronous webhook calls (webhook → set → response) at 1, 4 and 32 concurrent callers.

    .venv/bin/python benchmarks/sync_webhook_latency.py [--requests 200] [--levels 1,4,32] [--partitions 4]

Starts the four real services with the devstack harness against the broker and PostgreSQL named by
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL (else it starts its own, which takes longer), creates the workflow, warms
it up, then for each level runs `--requests` signed calls with that many callers at once, each caller sending
its next call as soon as the last one was answered. Prints p50 / p99 / mean latency and throughput per level.
Every call must be answered 201 with its own echo; anything else aborts the run (a benchmark of wrong answers
is worth nothing). Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from flowmatic_devstack.harness import (
    RunningStack,
    create_database,
    default_cache_dir,
    drop_database,
    running_kafka,
    running_postgres,
    start_stack,
)
from flowmatic_gateway.domain.signatures import sign

SECRET = "benchmark-secret"
WARMUP_CALLS = 20
WORKFLOW = {
    "name": "benchmark: webhook → set → response",
    "nodes": [
        {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"], "secret": SECRET}},
        {"id": "shape", "type": "set", "parameters": {"fields": {"echo": "{{n}}"}}},
        {"id": "reply", "type": "response", "parameters": {"body": {"echo": "{{$input.echo}}"}}},
    ],
    "connections": [{"from": "trigger", "to": "shape"}, {"from": "shape", "to": "reply"}],
}


@dataclass(frozen=True)
class LevelResult:
    callers: int
    latencies_ms: list[float]
    wall_seconds: float

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def row(self) -> str:
        mean = statistics.fmean(self.latencies_ms)
        rate = len(self.latencies_ms) / self.wall_seconds
        return (
            f"| {self.callers:>7} | {len(self.latencies_ms):>8} | {self.percentile(50):>8.1f} | "
            f"{self.percentile(99):>8.1f} | {mean:>8.1f} | {rate:>10.1f} |"
        )


@contextlib.asynccontextmanager
async def infrastructure() -> AsyncIterator[tuple[str, str]]:
    """(bootstrap servers, server DSN): the ones in the environment, else started for this run."""
    async with AsyncExitStack() as stack:
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None
        if kafka is None:
            kafka = await stack.enter_async_context(running_kafka(default_cache_dir()))
        database = os.environ.get("DATABASE_URL") or None
        if database is None:
            database = await stack.enter_async_context(running_postgres())
        yield kafka, database


async def call(client: httpx.AsyncClient, url: str, n: int) -> float:
    """One signed synchronous call; its latency in milliseconds. Raises on any answer but its own echo."""
    body = orjson.dumps({"n": n})
    started = time.perf_counter()
    response = await client.post(
        url, content=body, headers={"Content-Type": "application/json", "X-Webhook-Signature": sign(SECRET, body)}
    )
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or response.json() != {"echo": n}:
        raise RuntimeError(f"call {n}: {response.status_code} {response.text[:300]}")
    return elapsed


async def run_level(client: httpx.AsyncClient, url: str, callers: int, requests: int, first: int) -> LevelResult:
    """`requests` calls by `callers` concurrent callers, each calling again as soon as it is answered."""
    numbers = iter(range(first, first + requests))
    latencies: list[float] = []

    async def caller() -> None:
        for n in numbers:  # one shared iterator: the callers split the calls between them
            latencies.append(await call(client, url, n))

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return LevelResult(callers, latencies, time.perf_counter() - started)


async def benchmark(stack: RunningStack, levels: list[int], requests: int) -> list[LevelResult]:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        created = await api.post("/api/v1/workflows", json=WORKFLOW)
        created.raise_for_status()
    url = created.json()["webhooks"][0]["url"]
    limits = httpx.Limits(max_connections=max(levels) * 2, max_keepalive_connections=max(levels) * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await run_level(client, url, 1, WARMUP_CALLS, 0)
        results = []
        for index, callers in enumerate(levels):
            results.append(await run_level(client, url, callers, requests, (index + 1) * 1_000_000))
            print(f"  {callers} callers done", file=sys.stderr)
        return results


async def main(levels: list[int], requests: int, partitions: int) -> None:
    async with infrastructure() as (kafka, server):
        database = await create_database(server)
        try:
            with tempfile.TemporaryDirectory(prefix="flowmatic-bench-") as logs:
                stack = await start_stack(kafka, database, Path(logs), partitions=partitions)
                try:
                    results = await benchmark(stack, levels, requests)
                finally:
                    await stack.stop()
        finally:
            await drop_database(server, database)
    print(f"\nsynchronous webhook → set → response, {requests} calls per level, {partitions} partitions\n")
    print("| callers | requests | p50 (ms) | p99 (ms) | mean (ms) | calls/s |")
    print("|--------:|---------:|---------:|---------:|----------:|-----------:|")
    for result in results:
        print(result.row())


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="calls per concurrency level (default 200)")
    parser.add_argument("--levels", default="1,4,32", help="comma-separated caller counts (default 1,4,32)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_arguments()
    asyncio.run(main([int(level) for level in arguments.levels.split(",")], arguments.requests, arguments.partitions))
