"""The sync barrier: answer once everything committed to the log before the call is projected."""

from __future__ import annotations

from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.ports import EndOffsets


class ProjectorNotReadyError(RuntimeError):
    """The projector is not running, so no position can be promised."""


class LogSyncBarrier:
    """The `SyncBarrier`: reads the log-end offsets of every projected partition, then waits for the projector."""

    def __init__(self, end_offsets: EndOffsets, progress: ProjectionProgress) -> None:
        self._end_offsets = end_offsets
        self._progress = progress

    async def sync(self) -> None:
        """Return once projected past the log end as it is now; bound it with `asyncio.timeout`."""
        if not self._progress.ready:
            raise ProjectorNotReadyError("the projector is not running")
        targets = await self._end_offsets.end_offsets(self._progress.partitions)
        await self._progress.wait_for(targets)
