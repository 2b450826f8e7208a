"""In-memory fakes of the query service's ports, for unit tests of the routes."""

from __future__ import annotations

import asyncio
from typing import Any

from flowmatic_query.domain.listing import PageRequest, WorkflowFilter
from flowmatic_query.ports import ReadModelUnavailableError


class InMemoryReadModel:
    """The `ReadModel` over a dict of stored documents; `deleted` ids are hidden; `down` simulates an outage."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
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
