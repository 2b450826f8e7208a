"""The supervisor: starts components in order, knows each by name, kills/restarts one, stops all in reverse."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.process import ManagedProcess, ProcessSpec

WATCH_INTERVAL = 0.5
MAX_RESTART_DELAY = 30.0


class Supervisor:
    """Owns every child process of one stack (or one test's infrastructure)."""

    def __init__(self) -> None:
        self._processes: dict[str, ManagedProcess] = {}
        self._restarts: dict[str, int] = {}

    @property
    def processes(self) -> list[ManagedProcess]:
        """Every component, in start order."""
        return list(self._processes.values())

    def get(self, name: str) -> ManagedProcess:
        """The component called `name`."""
        try:
            return self._processes[name]
        except KeyError:
            known = ", ".join(self._processes) or "none"
            raise DevstackError(f"no component called {name!r} (running: {known})") from None

    def spawn(self, spec: ProcessSpec) -> ManagedProcess:
        """Start a new component without waiting for it (see `start`)."""
        if spec.name in self._processes and self._processes[spec.name].running:
            raise DevstackError(f"{spec.name} is already running")
        process = ManagedProcess(spec)
        self._processes[spec.name] = process
        process.start()
        return process

    async def start(self, spec: ProcessSpec) -> float:
        """Start a component and wait until it is ready; returns the seconds that took."""
        return await self.spawn(spec).wait_ready()

    def kill(self, name: str) -> None:
        """SIGKILL one component (tests use this to show recovery)."""
        self.get(name).kill()

    async def stop(self, name: str) -> None:
        """Stop one component cleanly."""
        await self.get(name).stop()

    async def restart(self, name: str) -> float:
        """Stop (if still running) and start one component again with the same spec; waits until ready."""
        old = self.get(name)
        await old.stop()
        return await self.start(old.spec)

    async def stop_all(self) -> None:
        """Stop every component, last started first (services before the broker and database they use)."""
        for process in reversed(self.processes):
            await process.stop()

    def unexpected_exits(self) -> list[ManagedProcess]:
        """Components that exited although nobody stopped or killed them."""
        return [p for p in self.processes if not p.expected_exit and p.returncode is not None]

    async def watch(self, report: Callable[[str], None], on_restart: Callable[[], None]) -> None:
        """Forever: report each component that dies (name, exit code, log tail) and restart it, backing off."""
        while True:
            for process in self.unexpected_exits():
                code = process.returncode
                assert code is not None  # unexpected_exits only lists exited processes
                count = self._restarts.get(process.name, 0) + 1
                self._restarts[process.name] = count
                delay = min(2.0 ** (count - 1), MAX_RESTART_DELAY)
                report(f"! {process.exit_report(code)}")
                report(f"! restarting {process.name} in {delay:.0f}s (restart #{count})")
                process.expected_exit = True  # reported once; the restart below replaces it
                await asyncio.sleep(delay)
                try:
                    elapsed = await self.start(process.spec)
                except DevstackError as error:
                    report(f"! {error}")
                else:
                    report(f"  {process.name} ready again ({elapsed:.1f}s)")
                on_restart()
            await asyncio.sleep(WATCH_INTERVAL)
