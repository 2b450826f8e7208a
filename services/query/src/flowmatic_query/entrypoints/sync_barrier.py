"""The sync barrier: answer once everything committed to the log before the call is projected.

Why not simply the last stable offsets (LSO): a Kafka producer's `commit_transaction` returns once the commit
is decided, and the broker writes the commit markers to the partitions a moment later. Until then the LSO still
stops before the committed records, so a barrier on the LSO read right after a commit passes too early (seen on
about a quarter of commits against Kafka 4.1.1). So the barrier first waits for the high watermark, which is
past every acknowledged record; that costs at most the length of a transaction that is open at the call.
Should one stay open longer than `grace_seconds` (a producer died mid-transaction, say), it cannot hold up
the answer: the barrier then settles for the LSO as it is by then, which by then includes every commit
acknowledged before the call.
"""

from __future__ import annotations

import asyncio

from flowmatic_query.domain.partitions import Partition
from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.ports import EndOffsets

DEFAULT_GRACE_SECONDS = 1.0


class ProjectorNotReadyError(RuntimeError):
    """The projector is not running, so no position can be promised."""


class LogSyncBarrier:
    """The `SyncBarrier`: reads the log ends of every projected partition, then waits for the projector."""

    def __init__(
        self, end_offsets: EndOffsets, progress: ProjectionProgress, grace_seconds: float = DEFAULT_GRACE_SECONDS
    ) -> None:
        self._end_offsets = end_offsets
        self._progress = progress
        self._grace_seconds = grace_seconds

    async def sync(self) -> None:
        """Return once projected past the log end as it is now; bound it with `asyncio.timeout`."""
        if not self._progress.ready:
            raise ProjectorNotReadyError("the projector is not running")
        partitions = self._progress.partitions
        written = await self._end_offsets.written_offsets(partitions)
        if await self._reached_within(written, self._grace_seconds):
            return
        stable = await self._end_offsets.end_offsets(partitions)
        await self._progress.wait_for(_lower(written, stable))

    async def _reached_within(self, targets: dict[Partition, int], seconds: float) -> bool:
        waiting = asyncio.ensure_future(self._progress.wait_for(targets))
        try:
            done, _ = await asyncio.wait({waiting}, timeout=seconds)
        finally:
            waiting.cancel()  # not awaited: that would swallow a cancellation of the caller itself
        return waiting in done


def _lower(first: dict[Partition, int], second: dict[Partition, int]) -> dict[Partition, int]:
    """Per partition, the lower of two offsets (a partition missing from `second` keeps `first`'s)."""
    return {p: min(offset, second.get(p, offset)) for p, offset in first.items()}
