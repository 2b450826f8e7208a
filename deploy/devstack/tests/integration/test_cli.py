"""The `flowmatic` command end to end: up --detach / status / down, Ctrl-C, a dying service, clear errors.

The services are stand-ins here (packages shadowing the real ones on PYTHONPATH), so these tests check the CLI
and its supervision; the broker and database are real (started by the CLI, or the session's).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from flowmatic_devstack.harness import temporary_folder
from flowmatic_devstack.ports import free_port
from flowmatic_devstack.state_file import StackRecord, pid_alive

pytestmark = pytest.mark.integration

FLOWMATIC = str(Path(sys.executable).with_name("flowmatic"))
STANDIN = Path(__file__).with_name("standin_service.py")
SERVICES = ("query", "orchestrator", "executor", "gateway")
MAIN = """import os, runpy, sys
sys.argv = ["standin", os.environ["FLOWMATIC_{upper}_PORT"]]
runpy.run_path({standin!r}, run_name="__main__")
"""


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state folder PostgreSQL's own user can reach (pytest's tmp_path is private to root)."""
    with temporary_folder("flowmatic-cli-") as folder:
        yield folder / "state"


@pytest.fixture
def cli_env(tmp_path: Path, state_dir: Path) -> dict[str, str]:
    """An environment for the CLI: its own state folder and free ports, stand-in services."""
    shadow = tmp_path / "shadow"
    for service in SERVICES:
        package = shadow / f"flowmatic_{service}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(MAIN.format(upper=service.upper(), standin=str(STANDIN)))
    dumps = tmp_path / "env"
    dumps.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") and not name.startswith("FLOWMATIC_")
    }
    env.update(
        {
            "PYTHONPATH": str(shadow),
            "STANDIN_DUMP_DIR": str(dumps),
            "FLOWMATIC_STATE_DIR": str(state_dir),
            "FLOWMATIC_KAFKA_PORT": str(free_port()),
            "FLOWMATIC_KAFKA_CONTROLLER_PORT": str(free_port()),
            "FLOWMATIC_POSTGRES_PORT": str(free_port()),
            **{f"FLOWMATIC_{service.upper()}_PORT": str(free_port()) for service in SERVICES},
        }
    )
    return env


def flowmatic(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLOWMATIC, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], starts: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"flowmatic: {starts}"), errors[0]


def wait_dead(pids: list[int], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while alive := [pid for pid in pids if pid_alive(pid)]:
        assert time.monotonic() < deadline, f"still running: {alive}"
        time.sleep(0.05)


def test_up_detach_status_and_down(cli_env: dict[str, str]) -> None:
    up = flowmatic(cli_env, "up", "--detach")

    assert up.returncode == 0, up.stdout + up.stderr
    for component in ("kafka", "postgres", "topics", *SERVICES):
        assert re.search(rf"^\[\s*[\d.]+s\] {component}\s+ready", up.stdout, re.MULTILINE), up.stdout
    gateway_port = cli_env["FLOWMATIC_GATEWAY_PORT"]
    assert f"API        http://127.0.0.1:{gateway_port}/api/v1" in up.stdout
    key = re.search(r"admin key  (\S+)\n", up.stdout)
    assert key is not None, up.stdout
    state_dir = Path(cli_env["FLOWMATIC_STATE_DIR"])
    stored_hash = (state_dir / "admin-api-key.sha256").read_text().strip()
    assert stored_hash == hashlib.sha256(key.group(1).encode()).hexdigest()
    gateway_env = json.loads((Path(cli_env["STANDIN_DUMP_DIR"]) / f"{gateway_port}.json").read_text())
    assert gateway_env["FLOWMATIC_ADMIN_API_KEY_SHA256"] == stored_hash
    assert gateway_env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{cli_env['FLOWMATIC_KAFKA_PORT']}"
    assert gateway_env["DATABASE_URL"].endswith(f"127.0.0.1:{cli_env['FLOWMATIC_POSTGRES_PORT']}/flowmatic")
    assert key.group(1) not in (state_dir / "logs" / "flowmatic.log").read_text()
    record = StackRecord.read(state_dir)
    assert record is not None
    assert sorted(c.name for c in record.components) == sorted(["kafka", "postgres", *SERVICES])

    status = flowmatic(cli_env, "status")

    assert status.returncode == 0, status.stdout + status.stderr
    for component in ("kafka", "postgres", *SERVICES):
        assert re.search(rf"^{component}\s+ready\s+pid", status.stdout, re.MULTILINE), status.stdout

    again = flowmatic(cli_env, "up", "--detach")
    assert_one_line_error(again, "a stack is already running")

    down = flowmatic(cli_env, "down")

    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped" in down.stdout
    wait_dead([record.supervisor_pid, *(c.pid for c in record.components)], within=5)
    assert flowmatic(cli_env, "status").returncode == 3
    assert "no stack is running" in flowmatic(cli_env, "down").stdout


class LineReader:
    """Reads a child's output on a thread, so a test can wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while not any(text in line for line in self.seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line with {text!r} in:\n{''.join(self.seen)}"
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue


@pytest.fixture
def foreground(cli_env: dict[str, str], kafka_bootstrap: str, database_url: str) -> Iterator[subprocess.Popen[str]]:
    """`flowmatic up` in the foreground, using the session's broker and database."""
    env = {
        **cli_env,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "FLOWMATIC_TOPIC_PREFIX": f"cli{os.getpid()}{time.monotonic_ns()}.",
        "FLOWMATIC_ADMIN_API_KEY": "known-key",
    }
    process = subprocess.Popen([FLOWMATIC, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_dead_service_is_reported_and_restarted_and_ctrl_c_stops_everything(
    foreground: subprocess.Popen[str], cli_env: dict[str, str]
) -> None:
    output = LineReader(foreground)
    output.wait_for("Ctrl-C stops everything.")
    assert any("admin key  set by FLOWMATIC_ADMIN_API_KEY" in line for line in output.seen)
    record = StackRecord.read(Path(cli_env["FLOWMATIC_STATE_DIR"]))
    assert record is not None
    gateway = next(c for c in record.components if c.name == "gateway")

    os.kill(gateway.pid, signal.SIGKILL)

    output.wait_for("! gateway was killed by SIGKILL", within=10)
    output.wait_for("gateway ready again", within=30)
    restarted = StackRecord.read(Path(cli_env["FLOWMATIC_STATE_DIR"]))
    assert restarted is not None
    pids = [record.supervisor_pid, *(c.pid for c in restarted.components)]
    foreground.send_signal(signal.SIGINT)
    assert foreground.wait(timeout=60) == 0
    output.wait_for("stopped", within=5)
    wait_dead(pids, within=5)
    assert StackRecord.read(Path(cli_env["FLOWMATIC_STATE_DIR"])) is None


def test_a_taken_port_is_refused_before_anything_starts(cli_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(cli_env["FLOWMATIC_QUERY_PORT"])))
        squatter.listen()

        result = flowmatic(cli_env, "up")

    assert_one_line_error(result, f"port {cli_env['FLOWMATIC_QUERY_PORT']} for query is already in use")


def test_missing_java_is_a_one_line_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**cli_env, "PATH": str(empty), "FLOWMATIC_CACHE_DIR": str(tmp_path / "cache")}

    assert_one_line_error(flowmatic(env, "up"), "java not found on PATH")


def test_missing_maven_is_a_one_line_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    only_java = tmp_path / "bin"
    only_java.mkdir()
    java = subprocess.run(["sh", "-c", "command -v java"], capture_output=True, text=True, check=True).stdout.strip()
    (only_java / "java").symlink_to(java)
    env = {**cli_env, "PATH": str(only_java), "FLOWMATIC_CACHE_DIR": str(tmp_path / "cache")}

    assert_one_line_error(flowmatic(env, "up", "--detach"), "mvn not found on PATH")


def test_an_unreachable_maven_central_is_a_one_line_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    # An empty local repository and a proxy on a closed loopback port: every download is refused at once.
    env = {
        **cli_env,
        "FLOWMATIC_CACHE_DIR": str(tmp_path / "cache"),
        "MAVEN_OPTS": f"-Dmaven.repo.local={tmp_path / 'm2'} -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort={free_port()}",
    }

    assert_one_line_error(flowmatic(env, "fetch"), "cannot download Kafka 4.1.1 from Maven Central")


def test_missing_postgresql_binaries_are_a_one_line_error(cli_env: dict[str, str], kafka_bootstrap: str) -> None:
    env = {**cli_env, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "FLOWMATIC_PG_BIN": "/nonexistent"}

    assert_one_line_error(flowmatic(env, "up"), "PostgreSQL server binaries (initdb, postgres) not found")
