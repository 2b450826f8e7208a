"""When lifting retention restores executions, and the sweep loop."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from flowmatic_query.domain.workflows import retention_lifted
from flowmatic_query.entrypoints.retention import run_retention


@pytest.mark.parametrize(
    ("before", "after", "lifted"),
    [(None, None, False), (None, 3, False), (3, None, True), (3, 4, True), (3, 3, False), (3, 2, False)],
)
def test_removed_or_raised_settings_restore(before: int | None, after: int | None, lifted: bool) -> None:
    assert retention_lifted(before, after) is lifted


async def test_the_sweep_runs_again_after_a_failure() -> None:
    calls: list[datetime] = []
    done = asyncio.Event()

    async def sweep(now: datetime) -> int:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) == 3:
            done.set()
        return 1

    task = asyncio.create_task(run_retention(sweep, 0.01))
    async with asyncio.timeout(5):
        await done.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(calls) >= 3 and all(moment.tzinfo is not None for moment in calls)
