"""Readiness probes: one question each, asked again until a deadline (never a sleep for a guessed time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httpx

Probe = Callable[[], Awaitable[bool]]
"""Answers whether a component is ready now; never raises for "not yet"."""


def tcp_probe(host: str, port: int) -> Probe:
    """Ready when a TCP connection to `host:port` is accepted."""

    async def probe() -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    return probe


def http_probe(url: str) -> Probe:
    """Ready when GET `url` answers 200 (every service's `/readyz`)."""

    async def probe() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                response = await client.get(url)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    return probe
