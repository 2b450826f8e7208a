"""The `flowmatic` command: `up [--detach]`, `down`, `status`, `projections rebuild`.

Every expected failure (port taken, Java or Maven missing, Maven Central unreachable, PostgreSQL missing, a
component that exits while starting) ends with one `flowmatic: ...` message on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from flowmatic_devstack import projections
from flowmatic_devstack.config import StackConfig
from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.kafka import KAFKA_VERSION, ensure_kafka_libs
from flowmatic_devstack.keys import ADMIN_KEY_HASH_FILE, AdminKey, resolve_admin_key, resolve_secret_key
from flowmatic_devstack.ports import ensure_ports_free
from flowmatic_devstack.probes import http_probe, tcp_probe
from flowmatic_devstack.stack import Progress, bring_up, required_ports, stack_record
from flowmatic_devstack.state_file import StackRecord, pid_alive, remove_record
from flowmatic_devstack.supervisor import Supervisor

DETACHED_LOG = "flowmatic.log"
DETACH_TIMEOUT = 600.0
DOWN_TIMEOUT = 90.0


def say(line: str) -> None:
    """Print at once (the detached supervisor's output is a file that `up --detach` follows)."""
    print(line, flush=True)


def ensure_not_running(config: StackConfig) -> None:
    """One stack per state folder."""
    record = StackRecord.read(config.state_dir)
    if record is not None and pid_alive(record.supervisor_pid):
        raise DevstackError(
            f"a stack is already running from {config.state_dir} (supervisor pid {record.supervisor_pid}); "
            "see `flowmatic status`, stop it with `flowmatic down`"
        )


def print_summary(config: StackConfig, public_url: str, admin: AdminKey, elapsed: float) -> None:
    """The closing lines of `up`: where the API is and the admin key (shown only when generated now)."""
    say(f"Flowmatic is ready ({elapsed:.1f}s)")
    say(f"  API        {public_url}/api/v1   (docs: {public_url}/docs)")
    if admin.generated:
        say(f"  admin key  {admin.generated}")
        say(f"             shown once: only its SHA-256 is kept, in {config.state_dir / ADMIN_KEY_HASH_FILE}")
    else:
        say(f"  admin key  {admin.note}")
    say(f"  logs       {config.logs_dir}/")


async def run_stack(config: StackConfig, environ: Mapping[str, str], *, detached: bool) -> int:
    """Start everything, then supervise until SIGINT/SIGTERM; always stops whatever was started."""
    ensure_not_running(config)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    admin = resolve_admin_key(environ, config.state_dir)
    secret_key = resolve_secret_key(environ, config.state_dir)
    supervisor = Supervisor()
    progress = Progress(say)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_requested.set)

    async def run() -> None:
        settings = await bring_up(supervisor, config, environ, admin.env, secret_key, progress)

        def record() -> None:
            stack_record(os.getpid(), supervisor, settings.public_url).write(config.state_dir)

        record()
        if detached:
            say(f"[{progress.elapsed:5.1f}s] all components ready")
        else:
            print_summary(config, settings.public_url, admin, progress.elapsed)
            say("Ctrl-C stops everything.")
        await supervisor.watch(say, record)

    running = asyncio.create_task(run())
    stopping = asyncio.create_task(stop_requested.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # a start-up failure: raise it (the watch loop itself never returns)
        say("stopping ...")
        return 0
    finally:
        for task in (running, stopping):
            task.cancel()
        await asyncio.gather(running, stopping, return_exceptions=True)
        await supervisor.stop_all()
        record = StackRecord.read(config.state_dir)
        if record is not None and record.supervisor_pid == os.getpid():
            remove_record(config.state_dir)
        if supervisor.processes:
            say("stopped")


def detach(config: StackConfig, environ: Mapping[str, str]) -> int:
    """Start the supervisor in the background, echo its progress until the stack is ready, and return."""
    started = time.monotonic()
    ensure_not_running(config)
    ensure_ports_free(required_ports(config))
    if not config.external_kafka:
        ensure_kafka_libs(config.cache_dir)  # here, so a download failure is this command's one-line error
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    # Resolved (and a new key's hash stored) here, so the key is printed by this command and never logged.
    admin = resolve_admin_key(environ, config.state_dir)
    log_path = config.logs_dir / DETACHED_LOG
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "flowmatic_devstack", "up", "--supervised"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(environ),
            start_new_session=True,
        )
    try:
        public_url = _follow_until_ready(daemon, log_path, config.state_dir)
    except BaseException:
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait()
        raise
    print_summary(config, public_url, admin, time.monotonic() - started)
    say(f"  running in the background (supervisor pid {daemon.pid}); stop it with `flowmatic down`")
    with warnings.catch_warnings():
        # The supervisor is meant to outlive this command: not waiting for it is the point.
        warnings.simplefilter("ignore", ResourceWarning)
        daemon.returncode = 0
        del daemon
    return 0


def _follow_until_ready(daemon: subprocess.Popen[bytes], log_path: Path, state_dir: Path) -> str:
    deadline = time.monotonic() + DETACH_TIMEOUT
    with log_path.open("rb") as log:
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            record = StackRecord.read(state_dir)
            if record is not None and record.supervisor_pid == daemon.pid:
                sys.stdout.write(log.read().decode(errors="replace"))
                return record.public_url
            if daemon.poll() is not None:
                sys.stdout.write(log.read().decode(errors="replace"))
                raise DevstackError(f"the stack did not start (the lines above are from {log_path})")
            if time.monotonic() > deadline:
                raise DevstackError(f"the stack was not ready after {DETACH_TIMEOUT:.0f}s; see {log_path}")
            time.sleep(0.2)


def down(config: StackConfig) -> int:
    """Stop the stack this state folder's supervisor runs (detached or in another terminal)."""
    record = StackRecord.read(config.state_dir)
    if record is None or not pid_alive(record.supervisor_pid):
        remove_record(config.state_dir)
        say("no stack is running")
        return 0
    os.kill(record.supervisor_pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while pid_alive(record.supervisor_pid):
        if time.monotonic() > deadline:
            # Its children die with it (parent-death signal); kill them too in case one is stuck.
            for pid in [record.supervisor_pid, *(component.pid for component in record.components)]:
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            remove_record(config.state_dir)
            raise DevstackError(f"the stack did not stop within {DOWN_TIMEOUT:.0f}s; killed it")
        time.sleep(0.1)
    say("stopped")
    return 0


async def _is_ready(endpoint: str) -> bool:
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
        return await tcp_probe(host, int(port))()
    return await http_probe(endpoint)()


async def _status(config: StackConfig) -> int:
    record = StackRecord.read(config.state_dir)
    if record is None or not pid_alive(record.supervisor_pid):
        say(f"not running (state folder {config.state_dir})")
        return 3
    say(f"{'supervisor':<14} running  pid {record.supervisor_pid}   {record.public_url}")
    all_ready = True
    for component in record.components:
        alive = pid_alive(component.pid)
        ready = alive and await _is_ready(component.endpoint)
        all_ready = all_ready and ready
        state = "ready" if ready else ("not ready" if alive else "stopped")
        say(f"{component.name:<14} {state:<9} pid {component.pid:<7} {component.endpoint}")
    return 0 if all_ready else 1


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="flowmatic", description="Run the Flowmatic stack locally.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start Kafka, PostgreSQL and the four services (Ctrl-C stops all)")
    up.add_argument("--detach", action="store_true", help="start in the background and return once ready")
    up.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    commands.add_parser("down", help="stop a stack started with `up --detach`")
    commands.add_parser("status", help="show whether each component is running and ready")
    commands.add_parser("fetch", help="collect the Kafka broker from Maven Central into the cache (once)")
    projections_parser = commands.add_parser("projections", help="manage the query service's read models")
    projection_commands = projections_parser.add_subparsers(dest="projections_command", required=True)
    rebuild = projection_commands.add_parser("rebuild", help="rebuild every read model from the log, swap atomically")
    rebuild.add_argument("--keep-retired", action="store_true", help="keep the replaced tables in a retired schema")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `flowmatic` console script."""
    args = build_parser().parse_args(argv)
    environ = dict(os.environ)
    try:
        config = StackConfig.from_environ(environ, Path.cwd())
        if args.command == "up" and args.detach:
            return detach(config, environ)
        if args.command == "up":
            return asyncio.run(run_stack(config, environ, detached=args.supervised))
        if args.command == "down":
            return down(config)
        if args.command == "projections":
            return projections.rebuild(config, environ, ["--keep-retired"] if args.keep_retired else [])
        if args.command == "fetch":
            say(f"Kafka {KAFKA_VERSION} in {ensure_kafka_libs(config.cache_dir)}")
            return 0
        return asyncio.run(_status(config))
    except DevstackError as error:
        print(f"flowmatic: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
