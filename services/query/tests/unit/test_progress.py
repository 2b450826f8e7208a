"""The committed positions and the waiting behind the sync barrier (asyncio only, no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from flowmatic_query.domain.partitions import Partition, reached
from flowmatic_query.entrypoints.progress import ProjectionProgress
from flowmatic_query.entrypoints.sync_barrier import LogSyncBarrier, ProjectorNotReadyError

A0 = Partition("t.workflow-events", 0)
A1 = Partition("t.workflow-events", 1)


def test_reached() -> None:
    assert reached({A0: 5, A1: 0}, {A0: 5, A1: 0})
    assert not reached({A0: 4, A1: 9}, {A0: 5})
    assert not reached({A0: 5}, {A1: 0})
    assert reached({}, {})


async def test_waiters_wake_on_the_commit_that_reaches_their_target() -> None:
    progress = ProjectionProgress()
    await progress.load({A0: 0, A1: 0})
    waiter = asyncio.create_task(progress.wait_for({A0: 3, A1: 1}))
    await progress.advance({A0: 3})
    await asyncio.sleep(0)
    assert not waiter.done()
    await progress.advance({A1: 1})
    await asyncio.wait_for(waiter, 1)


async def test_positions_never_go_back() -> None:
    progress = ProjectionProgress()
    await progress.load({A0: 5})
    await progress.advance({A0: 2})
    assert progress.positions == {A0: 5}


async def test_a_target_never_reached_times_out() -> None:
    progress = ProjectionProgress()
    await progress.load({A0: 0})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await progress.wait_for({A0: 1})


async def test_readiness_follows_the_projector() -> None:
    progress = ProjectionProgress()
    assert not progress.ready
    await progress.load({A0: 0})
    assert progress.ready and progress.partitions == [A0]
    await progress.stopped()
    assert not progress.ready


class FixedEndOffsets:
    """Log ends a test sets: `offsets` are committed, `written` (default: the same) include open transactions."""

    def __init__(self, offsets: dict[Partition, int], written: dict[Partition, int] | None = None) -> None:
        self.offsets = offsets
        self.written = written if written is not None else offsets
        self.asked: list[list[Partition]] = []

    async def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        self.asked.append(list(partitions))
        return {p: self.offsets[p] for p in partitions}

    async def written_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        self.asked.append(list(partitions))
        return {p: self.written[p] for p in partitions}


async def test_barrier_waits_for_the_log_end_of_every_assigned_partition() -> None:
    progress = ProjectionProgress()
    await progress.load({A0: 0, A1: 7})
    ends = FixedEndOffsets({A0: 2, A1: 7})
    barrier = LogSyncBarrier(ends, progress)
    sync = asyncio.create_task(barrier.sync())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not sync.done()
    await progress.advance({A0: 2})
    await asyncio.wait_for(sync, 1)
    assert sorted(ends.asked[0]) == [A0, A1]


async def test_barrier_refuses_without_a_running_projector() -> None:
    with pytest.raises(ProjectorNotReadyError):
        await LogSyncBarrier(FixedEndOffsets({}), ProjectionProgress()).sync()


async def test_barrier_waits_for_records_written_but_not_yet_stable() -> None:
    # The commit markers lag the commit: the LSO (2) still stops before records the writer saw committed (to 5).
    progress = ProjectionProgress()
    await progress.load({A0: 2})
    barrier = LogSyncBarrier(FixedEndOffsets({A0: 2}, written={A0: 5}), progress, grace_seconds=5)
    sync = asyncio.create_task(barrier.sync())
    await asyncio.sleep(0.05)
    assert not sync.done()
    await progress.advance({A0: 5})
    await asyncio.wait_for(sync, 1)


async def test_barrier_settles_for_the_stable_end_when_a_transaction_stays_open() -> None:
    progress = ProjectionProgress()
    await progress.load({A0: 0, A1: 3})
    ends = FixedEndOffsets({A0: 4, A1: 3}, written={A0: 9, A1: 3})  # A0 has an open transaction from 4
    barrier = LogSyncBarrier(ends, progress, grace_seconds=0.05)
    sync = asyncio.create_task(barrier.sync())
    await asyncio.sleep(0.1)
    assert not sync.done()  # the grace is over, but 4 is not projected yet
    await progress.advance({A0: 4})
    await asyncio.wait_for(sync, 1)
