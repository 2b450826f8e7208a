"""Rebuild rate of the query service's read models, in events per second, over ≥ 100,000 events.

    .venv/bin/python benchmarks/rebuild_rate.py [--events 100000] [--partitions 4] [--batch-size 2000]

Needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (a server DSN; a fresh database is created on it and dropped at
the end). Writes synthetic but valid envelopes straight to fresh topics (a unique prefix): executions as the
gateway and orchestrator write them — a WebhookReceived, then ExecutionStarted, steps, ExecutionSucceeded (9
events each) — plus their StartExecution outcomes and a few workflows, then runs the same rebuild as
`flowmatic projections rebuild` (into a fresh schema, then the swap) and prints the rate, with the load average
before and after (the machine's other work shows in the figure). Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta

from aiokafka import AIOKafkaProducer

from flowmatic_contracts.envelope import Actor, Envelope, encode, new_envelope
from flowmatic_contracts.events import CommandAccepted
from flowmatic_contracts.topics import Topics
from flowmatic_devstack.harness import create_database, drop_database
from flowmatic_devstack.topic_setup import ensure_topics
from flowmatic_query.entrypoints.rebuild import rebuild_read_models
from flowmatic_query.entrypoints.rebuild_command import ProgressBar
from flowmatic_query.settings import Settings
from flowmatic_query.testing.envelopes import T0, created
from flowmatic_query.testing.executions import ExecutionHistory

ADMIN = Actor(kind="apiKey", id="admin")
EVENTS_PER_EXECUTION = 10  # delivery + 8 execution events + the StartExecution outcome


def execution_records(topics: Topics, n: int) -> list[tuple[str, Envelope]]:
    """One execution's records, with the topic each belongs on."""
    run = ExecutionHistory(f"wf_bench_{n % 10}", execution_id=f"ex_bench_{n:08d}", start=T0 + timedelta(seconds=n))
    outcome = CommandAccepted(
        command_id=f"msg_c{n}", command_type="StartExecution", aggregate_id=run.execution_id, version=1
    )
    return [
        (topics.webhooks, run.webhook_received({"n": n})),
        *((topics.execution_events, envelope) for envelope in run.happy_path({"n": n})),
        (topics.outcomes, new_envelope(outcome, aggregate_id=run.execution_id, actor=ADMIN, occurred_at=run.start)),
    ]


async def produce(bootstrap: str, topics: Topics, events: int) -> int:
    """Write at least `events` records; returns how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    written = 0
    try:
        for n in range(10):
            await producer.send(
                topics.workflow_events, encode(created(f"wf_bench_{n}", f"bench {n}")), key=f"wf_bench_{n}".encode()
            )
            written += 1
        executions = -(-(events - written) // EVENTS_PER_EXECUTION)
        pending = []
        for n in range(executions):
            for topic, envelope in execution_records(topics, n):
                pending.append(await producer.send(topic, encode(envelope), key=envelope.aggregate_id.encode()))
                written += 1
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    return written


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()
    bootstrap, server = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if not bootstrap or not server:
        print("set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (a PostgreSQL server DSN)", file=sys.stderr)
        return 2
    topics = Topics(f"bench-{uuid.uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, topics, args.partitions)
    database = await create_database(server)
    try:
        started = time.monotonic()
        written = await produce(bootstrap, topics, args.events)
        print(
            f"wrote {written:,} events to {args.partitions} partitions per topic in {time.monotonic() - started:.1f} s"
        )
        settings = Settings(kafka_bootstrap_servers=bootstrap, database_url=database, topic_prefix=topics.prefix)
        bar = ProgressBar(sys.stderr)
        load_before = os.getloadavg()
        report = await rebuild_read_models(settings, on_progress=bar, batch_size=args.batch_size)
        bar.finish()
        print(
            f"rebuilt {report.records:,} events in {report.seconds:.1f} s: {report.rate:,.0f} events/s"
            f" ({100_000 / report.rate:.0f} s per 100,000 events)"
        )
        print(f"load average (1, 5, 15 min): before {_load(load_before)}, after {_load(os.getloadavg())}")
    finally:
        await drop_database(server, database)
    return 0


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in averages)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
