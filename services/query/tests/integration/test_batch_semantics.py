"""A batch is applied exactly as its records would be one at a time, whatever the batch defers or remembers
(events and audit rows written at its end, node types known from earlier in the batch), also when the retention
sweep and restore run in the middle of it, and when a bad record makes it fall back to a savepoint per record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from flowmatic_contracts.envelope import Actor, Envelope, encode, new_envelope
from flowmatic_contracts.events import CommandAccepted, WorkflowCreated, WorkflowUpdated
from flowmatic_contracts.topics import Topics
from flowmatic_query.adapters.migrations import migrate
from flowmatic_query.adapters.postgres import create_pool
from flowmatic_query.adapters.projections import PostgresProjectionStore
from flowmatic_query.adapters.schemas import create_schema
from flowmatic_query.domain.partitions import LogRecord, Partition
from flowmatic_query.settings import Settings
from flowmatic_query.testing.envelopes import ACTOR, T0, hook, spec
from flowmatic_query.testing.executions import ExecutionHistory

pytestmark = pytest.mark.integration

TOPICS = Topics("batch.")
ADMIN = Actor(kind="apiKey", id="admin")
TABLES = {
    "events": 'topic, partition, "offset"',
    "projection_offsets": "topic, partition",
    "workflows": "id",
    "workflow_versions": "workflow_id, version",
    "executions": "id",
    "steps": "execution_id, node_id",
    "audit": "event_id",
    "execution_owners": "execution_id",
    "projection_errors": 'topic, partition, "offset"',
}


def workflow(workflow_id: str, version: int, days: int | None) -> Envelope:
    kept = spec("kept").model_copy(update={"execution_retention_days": days})
    payload_type = WorkflowCreated if version == 1 else WorkflowUpdated
    payload = payload_type(spec=kept, webhooks=[hook(workflow_id)])
    at = T0 - timedelta(days=1) + timedelta(minutes=version)
    return new_envelope(payload, aggregate_id=workflow_id, actor=ACTOR, sequence=version, occurred_at=at)


def accepted(execution_id: str) -> Envelope:
    payload = CommandAccepted(command_id="msg_cmd", command_type="StartExecution", aggregate_id=execution_id, version=1)
    return new_envelope(payload, aggregate_id=execution_id, actor=ADMIN, occurred_at=T0)


def the_log() -> list[tuple[str, Envelope | bytes]]:
    """In projection order. Executions finished at T0 are long past any retention of days."""
    swept = ExecutionHistory("wf_r", execution_id="ex_swept")  # swept by the raise, restored by the lift
    replay = ExecutionHistory("wf_s", execution_id="ex_replay")  # its outcome is deferred past the sweep
    later = ExecutionHistory("wf_r", execution_id="ex_later")  # its node types are learnt across the restore
    execution = TOPICS.execution_events
    return [
        (TOPICS.workflow_events, workflow("wf_r", 1, 1)),
        (TOPICS.workflow_events, workflow("wf_s", 1, 1)),
        (TOPICS.webhooks, swept.webhook_received({"n": 1})),
        *((execution, envelope) for envelope in swept.happy_path({"n": 1})),
        (TOPICS.outcomes, accepted("ex_replay")),
        (execution, replay.started({"n": 2}, mode="replay", replay_of="ex_swept")),
        (execution, replay.step_succeeded("trigger", {"n": 2})),
        (execution, replay.succeeded({"n": 2})),
        (execution, later.started({"n": 3})),
        (execution, later.step_succeeded("trigger", {"n": 3})),
        (TOPICS.workflow_events, workflow("wf_r", 2, 2)),  # raised: sweeps ex_swept
        (TOPICS.workflow_events, workflow("wf_s", 2, 2)),  # raised: sweeps ex_replay, whose audit row waits
        (execution, later.scheduled("check")),
        (TOPICS.workflow_events, workflow("wf_r", 3, None)),  # lifted: restores ex_swept from this batch's events
        (execution, later.step_succeeded("check", {"n": 3}, output_name="true")),
        (execution, later.skipped("no")),
    ]


def records(log: list[tuple[str, Envelope | bytes]]) -> list[LogRecord]:
    offsets: dict[str, int] = {}
    out = []
    for topic, item in log:
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        out.append(LogRecord(topic, 0, offset, item if isinstance(item, bytes) else encode(item)))
    return out


@pytest.fixture
async def schemas(fresh_database: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two migrated sets of tables side by side."""
    setup = await create_pool(fresh_database, max_size=1)
    async with setup.acquire() as connection:
        await create_schema(connection, "whole")
        await create_schema(connection, "single")
    await setup.close()
    pools = []
    for schema in ("whole", "single"):
        pool = await create_pool(fresh_database, max_size=2, search_path=schema)
        await migrate(pool, Settings.model_fields["migrations_dir"].default)
        pools.append(pool)
    yield pools[0], pools[1]
    for pool in pools:
        await pool.close()


async def dump(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    tables = {}
    for table, order in TABLES.items():
        columns = 'topic, partition, "offset", error, raw' if table == "projection_errors" else "*"
        rows = await pool.fetch(
            f"SELECT row_to_json(t)::text AS j FROM (SELECT {columns} FROM {table}) t ORDER BY {order}"
        )
        tables[table] = [orjson.loads(row["j"]) for row in rows]
    return tables


async def apply_both_ways(
    schemas: tuple[asyncpg.Pool, asyncpg.Pool], log: list[LogRecord]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    whole, single = schemas
    positions = {Partition(r.topic, r.partition): r.offset + 1 for r in log}
    await PostgresProjectionStore(whole).commit_batch(log, positions)
    for record in log:
        await PostgresProjectionStore(single).commit_batch([record], {record.position: record.offset + 1})
    return await dump(whole), await dump(single)


async def test_a_batch_applies_as_its_records_one_by_one(schemas: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    whole, single = await apply_both_ways(schemas, records(the_log()))
    assert whole == single
    assert whole["projection_errors"] == []
    assert [row["id"] for row in whole["executions"]] == ["ex_later", "ex_swept"]  # ex_replay stays swept
    replay_audit = [row for row in whole["audit"] if row["aggregate_id"] == "ex_replay"]
    assert [row["action"] for row in replay_audit] == ["execution.replay"]
    later_steps = {row["node_id"]: row["type"] for row in whole["steps"] if row["execution_id"] == "ex_later"}
    assert later_steps == {"trigger": "webhook", "check": "if", "no": "noop"}
    assert len(whole["events"]) == len(the_log())


async def test_a_batch_with_bad_records_applies_the_rest_as_one_by_one(
    schemas: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    log = the_log()
    duplicate = log[5]  # a step event of ex_swept, again: refused, its sequence was applied
    log.insert(12, duplicate)
    log.insert(3, (TOPICS.execution_events, b"not an event"))
    whole, single = await apply_both_ways(schemas, records(log))
    assert whole == single
    assert [row["error"].split(":")[0] for row in whole["projection_errors"]] == [
        "JSONDecodeError",
        "ExecutionEventRefusedError",
    ]
    assert [row["id"] for row in whole["executions"]] == ["ex_later", "ex_swept"]
