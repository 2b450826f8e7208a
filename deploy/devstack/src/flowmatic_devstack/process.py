"""One supervised child process: started with its output in a log file, waited for until ready, stopped cleanly.

Every child gets its own session (so a Ctrl-C in the terminal reaches only the supervisor, which stops the
children in order) and a parent-death signal (so a supervisor killed with SIGKILL still leaves nothing behind).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.probes import Probe

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: the child may only make async-signal-safe calls, and dlopen is not one.
_LIBC = ctypes.CDLL(None, use_errno=True)

POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one component."""

    name: str
    argv: Sequence[str]
    log_path: Path
    readiness: Probe
    endpoint: str
    """Where it answers: `tcp://host:port` or a service's /readyz URL (what `flowmatic status` checks)."""
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None
    """Run as this user (PostgreSQL refuses to run as root)."""
    stop_signal: signal.Signals = signal.SIGTERM
    ready_timeout: float = 60.0
    stop_timeout: float = 20.0


class ProcessExitedError(DevstackError):
    """A component exited while it was expected to run."""


def _die_with_parent(stop_signal: signal.Signals) -> Callable[[], None]:
    parent = os.getpid()

    def preexec() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(stop_signal))
        # The parent may have died between fork and prctl; then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), stop_signal)

    return preexec


class ManagedProcess:
    """A running (or exited) instance of a `ProcessSpec`."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self._popen: subprocess.Popen[bytes] | None = None
        self.expected_exit = False
        """Set when the supervisor stopped or killed it on purpose, so the exit is not reported as a failure."""

    @property
    def name(self) -> str:
        """The component's name, e.g. `kafka` or `orchestrator-1`."""
        return self.spec.name

    @property
    def pid(self) -> int | None:
        """The process id once started."""
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: killed by that signal), else None."""
        return self._popen.poll() if self._popen is not None else None

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self._popen is not None and self.returncode is None

    def start(self) -> None:
        """Spawn the process, appending its output to the log file."""
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child writes to its own copy of the descriptor; this one is closed once it has been handed over.
        with self.spec.log_path.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self._popen = self._spawn(log)

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                list(self.spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.spec.env) if self.spec.env is not None else None,
                cwd=self.spec.cwd,
                user=self.spec.user,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.spec.stop_signal),
            )
        except OSError as error:
            raise DevstackError(f"cannot start {self.name} ({self.spec.argv[0]}): {error.strerror}") from None

    async def wait_ready(self) -> float:
        """Poll the readiness probe until it answers yes; fail fast, with the log's tail, if the process exits."""
        started = time.monotonic()
        deadline = started + self.spec.ready_timeout
        while True:
            code = self.returncode
            if code is not None:
                raise ProcessExitedError(self.exit_report(code))
            if await self.spec.readiness():
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise DevstackError(
                    f"{self.name} was not ready after {self.spec.ready_timeout:.0f}s; last lines of "
                    f"{self.spec.log_path}:\n{self.log_tail()}"
                )
            await asyncio.sleep(POLL_INTERVAL)

    def kill(self) -> None:
        """SIGKILL, as a crash would; the exit is expected (no report)."""
        if self._popen is None:
            return
        self.expected_exit = True
        if self._popen.poll() is None:
            self._popen.kill()
        self._popen.wait()

    async def stop(self) -> None:
        """Ask it to stop with its stop signal; SIGKILL it if it has not exited by its stop timeout."""
        if self._popen is None:
            return
        self.expected_exit = True
        if self._popen.poll() is None:
            self._popen.send_signal(self.spec.stop_signal)
            try:
                await asyncio.to_thread(self._popen.wait, self.spec.stop_timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()

    def exit_report(self, code: int) -> str:
        """Name, exit code and the last log lines: what the console shows when a component dies."""
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"{self.name} {how}; last lines of {self.spec.log_path}:\n{self.log_tail()}"

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log file, indented for the console."""
        try:
            with self.spec.log_path.open("rb") as log:
                tail = deque(log, maxlen=lines)
        except OSError:
            return "    (no log)"
        return "".join("    " + line.decode(errors="replace") for line in tail).rstrip()
