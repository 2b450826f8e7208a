"""The retention sweep, run every `FLOWMATIC_RETENTION_SWEEP_SECONDS` beside the projector."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

log = logging.getLogger(__name__)

Sweep = Callable[[datetime], Awaitable[int]]


async def run_retention(sweep: Sweep, interval_seconds: float) -> None:
    """Sweep now and then every `interval_seconds`, until cancelled; a failed sweep is logged and tried again."""
    while True:
        try:
            deleted = await sweep(datetime.now(UTC))
            if deleted:
                log.info("retention sweep deleted %d executions (their events stay in the log)", deleted)
        except Exception:
            log.exception("the retention sweep failed; trying again in %g s", interval_seconds)
        await asyncio.sleep(interval_seconds)
