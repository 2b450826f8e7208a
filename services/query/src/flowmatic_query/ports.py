"""The query service's ports: what the routes and the projector need, implemented by adapters or fakes."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Protocol

from flowmatic_query.domain.audit import AuditEntry, AuditQuery
from flowmatic_query.domain.chain import ChainLink
from flowmatic_query.domain.executions import ExecutionRecord
from flowmatic_query.domain.history import EventRecord, VersionPageRequest, VersionRecord
from flowmatic_query.domain.listing import ExecutionFilter, PageRequest, WorkflowFilter
from flowmatic_query.domain.partitions import LogRecord, Partition


class ReadModel(Protocol):
    """The projected read models, as the GET endpoints read them."""

    async def get_workflow(self, workflow_id: str) -> dict[str, Any] | None:
        """The stored document of a live workflow, or None when unknown or deleted."""

    async def list_workflows(self, where: WorkflowFilter, page: PageRequest) -> list[dict[str, Any]]:
        """Up to `page.limit + 1` stored documents of live workflows, newest first, after `page.after`."""

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution with its input, output and steps (one consistent snapshot), or None when unknown."""

    async def list_executions(self, where: ExecutionFilter, page: PageRequest) -> list[ExecutionRecord]:
        """Up to `page.limit + 1` execution summaries (no input, output or steps), newest first, after `page.after`."""

    async def ping(self) -> None:
        """Raise when the store does not answer."""


class History(Protocol):
    """The log as history: an execution's events, a workflow's versions, the audit log, the hash chains."""

    async def execution_events(self, execution_id: str) -> list[EventRecord]:
        """The delivery (if any), then the execution's events by sequence; empty when the execution is unknown."""

    async def workflow_versions(self, workflow_id: str, page: VersionPageRequest) -> list[VersionRecord] | None:
        """Up to `page.limit + 1` versions after `page.after`, oldest first; None when the workflow is unknown."""

    async def workflow_version(self, workflow_id: str, version: int) -> dict[str, Any] | None:
        """The stored document at that version (also after deletion), or None."""

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Up to `query.limit + 1` audit entries matching the query, newest first, after `query.after`."""

    def chain_links(self) -> AsyncGenerator[ChainLink, None]:
        """Every chained event (workflow and execution events) in (aggregate, sequence) order."""


class ProjectionStore(Protocol):
    """Where projected rows and the positions that produced them are committed together."""

    async def load_positions(self, topics: Sequence[str]) -> dict[Partition, int]:
        """The stored next offset of every partition of `topics` that has one."""

    async def commit_batch(
        self, records: Sequence[LogRecord], positions: Mapping[Partition, int]
    ) -> dict[Partition, int]:
        """Apply `records` and store `positions` in one transaction; returns the positions committed."""


class EndOffsets(Protocol):
    """The log's ends of partitions: how far it is committed, and how far it is written."""

    async def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The last stable offset of each partition: the end of what `read_committed` readers can read now."""

    async def written_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The high watermark of each partition: the end of everything written, open transactions included."""


class SyncBarrier(Protocol):
    """Waits until everything acknowledged in the log before the call is projected."""

    async def sync(self) -> None:
        """Return once projected past the log end as it is now; raises when the log is unreachable.

        Callers bound it with `asyncio.timeout`."""


class Readiness(Protocol):
    """Whether the projector runs and has loaded its positions."""

    @property
    def ready(self) -> bool:
        """True while the projector is running with its positions loaded."""


class ReadModelUnavailableError(RuntimeError):
    """The read model's store cannot be reached (answered with 503)."""
