"""PostgreSQL: a throwaway cluster from Debian's binaries in the state folder, run as a supervised child.

The postmaster runs directly under the supervisor (not daemonised by pg_ctl) so that it is stopped with the
rest of the stack, its death is noticed, and it dies with a killed supervisor like every other component.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

import asyncpg

from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.probes import Probe
from flowmatic_devstack.process import ProcessSpec

PG_ROOT = Path("/usr/lib/postgresql")
PREFERRED_VERSION = "15"
SERVICE_USER = "postgres"
# For test clusters only: durability against an OS crash buys nothing in a throwaway cluster and costs seconds.
UNSAFE_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def find_pg_bin(environ: Mapping[str, str]) -> Path:
    """The folder with initdb and postgres: FLOWMATIC_PG_BIN, else Debian's PostgreSQL 15, else the newest there."""
    if environ.get("FLOWMATIC_PG_BIN"):
        candidates = [Path(environ["FLOWMATIC_PG_BIN"])]
    else:
        installed = sorted(PG_ROOT.glob("*/bin"), key=lambda p: (p.parent.name != PREFERRED_VERSION, p.parent.name))
        candidates = installed
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    raise DevstackError(
        f"PostgreSQL server binaries (initdb, postgres) not found in {PG_ROOT}/*/bin: install them "
        "(apt-get install postgresql-15), set FLOWMATIC_PG_BIN, or point DATABASE_URL at a running server"
    )


def server_dsn(port: int, database: str = "postgres") -> str:
    """The DSN of the local cluster (trust authentication on loopback)."""
    return f"postgresql://{SERVICE_USER}@127.0.0.1:{port}/{database}"


def _run_as() -> str | None:
    # initdb and postgres refuse to run as root.
    return SERVICE_USER if os.geteuid() == 0 else None


def _hand_over(folder: Path) -> None:
    """Make `folder` the service user's when running as root (after checking that user can reach it)."""
    folder.mkdir(parents=True, exist_ok=True)
    if _run_as() is None:
        return
    for parent in folder.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise DevstackError(
                f"PostgreSQL runs as the {SERVICE_USER} user, which cannot enter {parent}: choose a state folder "
                "(FLOWMATIC_STATE_DIR) whose parent folders others may enter (chmod o+x)"
            )
    for path in [folder, *folder.rglob("*")]:
        shutil.chown(path, SERVICE_USER, SERVICE_USER)


def pg_probe(dsn: str) -> Probe:
    """Ready when a connection succeeds (the port opens before the server accepts sessions)."""

    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(dsn, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await connection.close()
        return True

    return probe


async def prepare_cluster(
    pg_bin: Path, pg_dir: Path, log_path: Path, port: int, *, unsafe_fast: bool = False, name: str = "postgres"
) -> ProcessSpec:
    """initdb the cluster if it is new; returns how to run its postmaster on loopback only."""
    data_dir = pg_dir / "data"
    socket_dir = pg_dir / "run"
    _hand_over(pg_dir)
    if not (data_dir / "PG_VERSION").exists():
        command = [
            str(pg_bin / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", SERVICE_USER,
            "-E", "UTF8", "--locale=C", "--no-sync",
        ]  # fmt: skip
        result = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, check=False, user=_run_as()
        )
        if result.returncode != 0:
            raise DevstackError(f"initdb failed: {(result.stderr or result.stdout).strip().splitlines()[-1]}")
    socket_dir.mkdir(exist_ok=True)
    _hand_over(socket_dir)
    settings = ["listen_addresses=127.0.0.1", "max_connections=200", *(UNSAFE_FAST_SETTINGS if unsafe_fast else ())]
    argv = [str(pg_bin / "postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(socket_dir)]
    for setting in settings:
        argv += ["-c", setting]
    return ProcessSpec(
        name=name,
        argv=argv,
        log_path=log_path,
        readiness=pg_probe(server_dsn(port)),
        endpoint=f"tcp://127.0.0.1:{port}",
        user=_run_as(),
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back open sessions instead of waiting for them
    )


async def ensure_database(dsn: str, name: str) -> None:
    """Create database `name` on the server unless it exists."""
    connection = await asyncpg.connect(dsn)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def with_database(dsn: str, name: str) -> str:
    """The same server's DSN with another database."""
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"
