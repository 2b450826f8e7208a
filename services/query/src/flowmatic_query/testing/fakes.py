"""In-memory fakes of the query service's ports, for unit tests of the routes."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from flowmatic_query.domain.executions import ExecutionRecord
from flowmatic_query.domain.listing import ExecutionFilter, PageRequest, WorkflowFilter
from flowmatic_query.ports import ReadModelUnavailableError


class InMemoryReadModel:
    """The `ReadModel` over dicts of stored workflow documents and executions; `deleted` workflow ids are
    hidden; `down` simulates an outage."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self.deleted: set[str] = set()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ReadModelUnavailableError("the fake database is down")

    async def get_workflow(self, workflow_id: str) -> dict[str, Any] | None:
        self._check()
        return None if workflow_id in self.deleted else self.documents.get(workflow_id)

    async def list_workflows(self, where: WorkflowFilter, page: PageRequest) -> list[dict[str, Any]]:
        self._check()
        rows = [
            document
            for wid, document in sorted(self.documents.items(), reverse=True)
            if wid not in self.deleted
            and (where.active is None or document["active"] is where.active)
            and (where.name is None or where.name.lower() in document["name"].lower())
            and (page.after is None or wid < page.after)
        ]
        return rows[: page.limit + 1]

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        self._check()
        return self.executions.get(execution_id)

    async def list_executions(self, where: ExecutionFilter, page: PageRequest) -> list[ExecutionRecord]:
        self._check()
        rows = [
            dataclasses.replace(record, input=None, output=None, steps=())
            for eid, record in sorted(self.executions.items(), reverse=True)
            if (where.workflow_id is None or record.workflow_id == where.workflow_id)
            and (where.status is None or record.status == where.status)
            and (where.since is None or record.started_at >= where.since)
            and (where.until is None or record.started_at <= where.until)
            and (page.after is None or eid < page.after)
        ]
        return rows[: page.limit + 1]

    async def ping(self) -> None:
        self._check()


class ScriptedSyncBarrier:
    """A `SyncBarrier` that succeeds, fails, or never returns, as the test says."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.hang = False
        self.calls = 0

    async def sync(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.hang:
            await asyncio.Event().wait()


class FixedReadiness:
    """A `Readiness` the test flips."""

    def __init__(self, ready: bool = True) -> None:
        self.ready = ready
