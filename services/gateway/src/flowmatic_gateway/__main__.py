"""`python -m flowmatic_gateway`: serve the public API on 127.0.0.1 until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack

import uvicorn

from flowmatic_gateway.bootstrap import build_deps
from flowmatic_gateway.entrypoints.app import create_app
from flowmatic_gateway.settings import Settings

log = logging.getLogger("flowmatic_gateway")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `main` owns SIGTERM/SIGINT so the exit stack always unwinds."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def main(settings: Settings) -> None:
    """Open the adapters, serve until a stop signal, then close everything in reverse order."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call to the query service is noise
    async with AsyncExitStack() as stack:
        deps, directory = await build_deps(settings, stack)
        catch_up = asyncio.create_task(directory.catch_up(), name="webhook-routes-catch-up")
        stack.callback(catch_up.cancel)
        config = uvicorn.Config(
            create_app(settings, deps), host="127.0.0.1", port=settings.port, lifespan="off", log_level="info"
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        log.info("gateway listening on http://127.0.0.1:%d", settings.port)
        await server.serve()
    log.info("gateway stopped")


if __name__ == "__main__":
    asyncio.run(main(Settings()))
