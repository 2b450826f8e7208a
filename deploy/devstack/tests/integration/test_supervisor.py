"""The supervisor against stand-in processes: readiness, crash reports, kill and restart, nothing left behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowmatic_devstack.ports import free_port
from flowmatic_devstack.probes import http_probe
from flowmatic_devstack.process import ProcessExitedError, ProcessSpec
from flowmatic_devstack.state_file import pid_alive
from flowmatic_devstack.supervisor import Supervisor

pytestmark = pytest.mark.integration

STANDIN = Path(__file__).with_name("standin_service.py")


def standin(tmp_path: Path, name: str = "svc", mode: str = "", **overrides: float) -> ProcessSpec:
    port = free_port()
    env = {**os.environ, "STANDIN_MODE": mode, "STANDIN_MARKER": str(tmp_path / f"{name}.marker")}
    return ProcessSpec(
        name=name,
        argv=[sys.executable, str(STANDIN), str(port)],
        log_path=tmp_path / f"{name}.log",
        readiness=http_probe(f"http://127.0.0.1:{port}/readyz"),
        endpoint=f"http://127.0.0.1:{port}/readyz",
        env=env,
        ready_timeout=overrides.get("ready_timeout", 20.0),
        stop_timeout=overrides.get("stop_timeout", 10.0),
    )


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_started_component_is_ready_and_stops_cleanly(tmp_path: Path) -> None:
    supervisor = Supervisor()
    elapsed = await supervisor.start(standin(tmp_path))
    process = supervisor.get("svc")
    pid = process.pid
    assert pid is not None

    assert elapsed < 20
    assert process.running
    assert await process.spec.readiness()

    await supervisor.stop_all()

    assert process.returncode == 0
    assert not pid_alive(pid)
    assert supervisor.unexpected_exits() == []
    assert "stand-in: listening on" in (tmp_path / "svc.log").read_text()


async def test_a_component_that_exits_while_starting_fails_fast_with_its_log_tail(tmp_path: Path) -> None:
    supervisor = Supervisor()
    started = time.monotonic()

    with pytest.raises(ProcessExitedError) as raised:
        await supervisor.start(standin(tmp_path, mode="crash", ready_timeout=60))

    assert time.monotonic() - started < 15
    assert "svc exited with code 3" in str(raised.value)
    assert "stand-in: failing at start as asked" in str(raised.value)


async def test_a_component_that_dies_later_is_reported_with_code_and_log(tmp_path: Path) -> None:
    supervisor = Supervisor()
    await supervisor.start(standin(tmp_path, mode="exit-after-ready"))

    await wait_until(lambda: supervisor.unexpected_exits() != [])

    [died] = supervisor.unexpected_exits()
    assert died.returncode == 7
    assert "svc exited with code 7" in died.exit_report(7)
    assert "exiting after the first readiness answer" in died.exit_report(7)
    await supervisor.stop_all()


async def test_kill_is_not_reported_and_restart_brings_a_new_ready_process(tmp_path: Path) -> None:
    supervisor = Supervisor()
    await supervisor.start(standin(tmp_path))
    first_pid = supervisor.get("svc").pid
    assert first_pid is not None

    supervisor.kill("svc")

    assert supervisor.get("svc").returncode == -9
    assert supervisor.unexpected_exits() == []
    await supervisor.restart("svc")
    assert supervisor.get("svc").pid not in (None, first_pid)
    assert supervisor.get("svc").running
    assert await supervisor.get("svc").spec.readiness()
    await supervisor.stop_all()
    assert not pid_alive(first_pid)


async def test_stop_escalates_to_sigkill_when_the_stop_signal_is_ignored(tmp_path: Path) -> None:
    supervisor = Supervisor()
    await supervisor.start(standin(tmp_path, mode="ignore-term", stop_timeout=1.0))

    await supervisor.stop_all()

    assert supervisor.get("svc").returncode == -9


async def test_watch_reports_a_death_and_restarts_the_component(tmp_path: Path) -> None:
    supervisor = Supervisor()
    await supervisor.start(standin(tmp_path, mode="crash-once"))
    lines: list[str] = []
    restarts: list[int] = []
    watcher = asyncio.create_task(supervisor.watch(lines.append, lambda: restarts.append(1)))
    try:
        await wait_until(lambda: restarts != [], within=20)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)

    report = "\n".join(lines)
    assert "! svc exited with code 7" in report
    assert "restarting svc in 1s (restart #1)" in report
    assert "svc ready again" in report
    assert supervisor.get("svc").running
    await supervisor.stop_all()


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_supervisor import standin
from pathlib import Path
from flowmatic_devstack.supervisor import Supervisor

async def main():
    supervisor = Supervisor()
    await supervisor.start(standin(Path({str(tmp_path)!r}), "orphan"))
    print(supervisor.get("orphan").pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert pid_alive(child_pid)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()

    deadline = time.monotonic() + 10
    while pid_alive(child_pid):
        assert time.monotonic() < deadline, f"child {child_pid} outlived its killed supervisor"
        time.sleep(0.05)
