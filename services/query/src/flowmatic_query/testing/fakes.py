"""In-memory fakes of the query service's ports, for unit tests of the routes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator
from typing import Any

from flowmatic_query.domain.audit import AuditEntry, AuditQuery
from flowmatic_query.domain.chain import ChainLink
from flowmatic_query.domain.executions import ExecutionRecord
from flowmatic_query.domain.history import EventRecord, VersionPageRequest, VersionRecord
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


class InMemoryHistory:
    """The `History` port over lists the test fills: events per execution, versions and their documents per
    workflow, audit entries, chain links (already in order)."""

    def __init__(self) -> None:
        self.events: dict[str, list[EventRecord]] = {}
        self.versions: dict[str, list[tuple[VersionRecord, dict[str, Any] | None]]] = {}
        self.entries: list[AuditEntry] = []
        self.links: list[ChainLink] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ReadModelUnavailableError("the fake database is down")

    async def execution_events(self, execution_id: str) -> list[EventRecord]:
        self._check()
        return list(self.events.get(execution_id, []))

    async def workflow_versions(self, workflow_id: str, page: VersionPageRequest) -> list[VersionRecord] | None:
        self._check()
        if workflow_id not in self.versions:
            return None
        records = [record for record, _ in self.versions[workflow_id] if record.version > (page.after or 0)]
        return records[: page.limit + 1]

    async def workflow_version(self, workflow_id: str, version: int) -> dict[str, Any] | None:
        self._check()
        found = [doc for record, doc in self.versions.get(workflow_id, []) if record.version == version]
        return found[0] if found else None

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        self._check()
        after = query.after
        rows = [
            entry
            for entry in sorted(self.entries, key=lambda e: (e.occurred_at, e.event_id), reverse=True)
            if (query.actor_kind is None or entry.actor["kind"] == query.actor_kind)
            and (query.actor_id is None or entry.actor["id"] == query.actor_id)
            and (query.action is None or entry.action == query.action)
            and (query.outcome is None or entry.outcome == query.outcome)
            and (query.since is None or entry.occurred_at >= query.since)
            and (query.until is None or entry.occurred_at <= query.until)
            and (after is None or (entry.occurred_at, entry.event_id) < (after.occurred_at, after.event_id))
        ]
        return rows[: query.limit + 1]

    async def chain_links(self) -> AsyncGenerator[ChainLink, None]:
        self._check()
        for link in self.links:
            yield link
