"""`python -m flowmatic_orchestrator`: the command processor and its health server in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

import uvicorn

from flowmatic_orchestrator.bootstrap import build
from flowmatic_orchestrator.settings import Settings

log = logging.getLogger("flowmatic_orchestrator")


class _HealthServer(uvicorn.Server):
    """uvicorn without its own signal handling: this process decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def main(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until the processor cannot go on (exit 1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        orchestrator = await build(settings, stack)
        server = _HealthServer(
            uvicorn.Config(orchestrator.app, host=settings.host, port=settings.port, log_config=None, access_log=False)
        )
        processing = asyncio.create_task(orchestrator.processor.run(), name="processor")
        serving = asyncio.create_task(server.serve(), name="health")
        stopping = asyncio.create_task(stop.wait(), name="signals")
        await asyncio.wait({processing, serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        orchestrator.processor.stop()
        server.should_exit = True
        results = await asyncio.gather(processing, serving, return_exceptions=True)
        stopping.cancel()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("stopping after a failure: %r", failure, exc_info=failure)
        if failures or not stop.is_set():
            return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(asyncio.run(main(Settings())))
