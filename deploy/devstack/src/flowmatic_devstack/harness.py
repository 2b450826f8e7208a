"""Infrastructure and stacks for tests: a broker and a PostgreSQL cluster on free ports in a temporary folder,
and the four services started against them (see `pytest_plugin` for the fixtures built on this)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

from flowmatic_contracts.topics import Topics
from flowmatic_devstack.config import SERVICES, StackConfig
from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.kafka import ensure_kafka_libs, prepare_broker
from flowmatic_devstack.keys import new_secret_key
from flowmatic_devstack.ports import free_port
from flowmatic_devstack.postgres import find_pg_bin, prepare_cluster, server_dsn, with_database
from flowmatic_devstack.process import ManagedProcess
from flowmatic_devstack.services import ServiceEnvironment, instance_name, service_spec
from flowmatic_devstack.stack import start_in_order
from flowmatic_devstack.supervisor import Supervisor
from flowmatic_devstack.topic_setup import ensure_topics


@contextmanager
def temporary_folder(prefix: str) -> Iterator[Path]:
    """A folder removed afterwards; traversable by others, since PostgreSQL runs as its own user inside it."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def running_kafka(cache_dir: Path) -> AsyncIterator[str]:
    """A fresh single-node broker on free ports; yields its bootstrap address; stopped and deleted afterwards."""
    libs = ensure_kafka_libs(cache_dir)
    port, controller_port = free_port(), free_port()
    supervisor = Supervisor()
    with temporary_folder("flowmatic-kafka-") as folder:
        try:
            await supervisor.start(await prepare_broker(libs, folder, folder / "kafka.log", port, controller_port))
            yield f"127.0.0.1:{port}"
        finally:
            await supervisor.stop_all()


@asynccontextmanager
async def running_postgres() -> AsyncIterator[str]:
    """A fresh PostgreSQL cluster on a free port; yields the DSN of its `postgres` database."""
    port = free_port()
    supervisor = Supervisor()
    with temporary_folder("flowmatic-postgres-") as folder:
        try:
            spec = await prepare_cluster(
                find_pg_bin(os.environ), folder, folder / "postgres.log", port, unsafe_fast=True
            )
            await supervisor.start(spec)
            yield server_dsn(port)
        finally:
            await supervisor.stop_all()


async def create_database(server: str) -> str:
    """A new empty database on `server`; returns its DSN."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(server, name)


async def drop_database(server: str, database_url: str) -> None:
    """Drop a database made by `create_database`, disconnecting whoever still uses it."""
    name = database_url.rpartition("/")[2]
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def default_cache_dir() -> Path:
    """The same cache `flowmatic up` uses, so the broker is fetched once for both."""
    return StackConfig.from_environ(os.environ, Path.cwd()).cache_dir


class RunningStack:
    """The four services of one test, on free ports, against the session's broker and a fresh database.

    Components are named `query`, `orchestrator`, `executor`, `gateway`; extra instances `orchestrator-1`, ...
    """

    def __init__(self, settings: ServiceEnvironment, logs_dir: Path, admin_key: str, topics: Topics) -> None:
        self.settings = settings
        self.logs_dir = logs_dir
        self.admin_key = admin_key
        """The bootstrap admin API key the gateway was given (FLOWMATIC_ADMIN_API_KEY)."""
        self.topics = topics
        self.supervisor = Supervisor()
        self._ports: dict[str, int] = {}
        self._inherited = dict(os.environ)

    @property
    def gateway_url(self) -> str:
        """The public API's base URL, e.g. `http://127.0.0.1:41234`."""
        return self.url("gateway")

    @property
    def database_url(self) -> str:
        """The DSN of this stack's database."""
        return self.settings.database_url

    @property
    def kafka_bootstrap(self) -> str:
        """The broker this stack uses."""
        return self.settings.kafka_bootstrap

    def url(self, name: str) -> str:
        """The base URL of one component, e.g. `url("query")` or `url("orchestrator-1")`."""
        if name not in self._ports:
            raise DevstackError(f"no component called {name!r} (known: {', '.join(self._ports)})")
        return f"http://127.0.0.1:{self._ports[name]}"

    def process(self, name: str) -> ManagedProcess:
        """The supervised process of one component (its pid, returncode, log_tail())."""
        return self.supervisor.get(name)

    async def start_all(self) -> None:
        """The four services side by side (see `start_in_order`)."""

        async def start(service: str) -> None:
            await self._start(service, 0, self.settings.ports[service])

        await start_in_order(start)

    async def start_instance(self, service: str) -> str:
        """Start one more instance of `service` (next FLOWMATIC_INSTANCE_ID, its own port); returns its name."""
        instance = 1
        while instance_name(service, instance) in self._ports:
            instance += 1
        return await self._start(service, instance, free_port())

    def kill(self, name: str) -> None:
        """SIGKILL one component, as a crash would."""
        self.supervisor.kill(name)

    async def restart(self, name: str) -> None:
        """Start a killed (or running) component again, same port and instance id; returns once it is ready."""
        await self.supervisor.restart(name)

    async def stop(self) -> None:
        """Stop every component (gateway first)."""
        await self.supervisor.stop_all()

    def unexpected_exits(self) -> list[str]:
        """Reports of components that died without being killed or stopped (name, exit code, log tail)."""
        return [
            process.exit_report(process.returncode)
            for process in self.supervisor.unexpected_exits()
            if process.returncode is not None
        ]

    async def _start(self, service: str, instance: int, port: int) -> str:
        spec = service_spec(service, instance, port, self.settings, self.logs_dir, self._inherited)
        self._ports[spec.name] = port
        await self.supervisor.start(spec)
        return spec.name


async def start_stack(
    kafka_bootstrap: str,
    database_url: str,
    logs_dir: Path,
    *,
    partitions: int = 2,
    extra_env: Mapping[str, str] | None = None,
) -> RunningStack:
    """Create a fresh topic set and start the four services; stops what started if any fails to get ready."""
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    await ensure_topics(kafka_bootstrap, topics, partitions)
    ports = {service: free_port() for service in SERVICES}
    admin_key = f"test-admin-{secrets.token_urlsafe(16)}"
    settings = ServiceEnvironment(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topics.prefix,
        partitions=partitions,
        public_url=f"http://127.0.0.1:{ports['gateway']}",
        query_url=f"http://127.0.0.1:{ports['query']}",
        ports=ports,
        admin_key_env={"FLOWMATIC_ADMIN_API_KEY": admin_key},
        secret_key=new_secret_key(),
        extra={"FLOWMATIC_HTTP_ALLOW_PRIVATE_NETWORKS": "true", **(extra_env or {})},
    )
    stack = RunningStack(settings, logs_dir, admin_key, topics)
    try:
        await stack.start_all()
    except BaseException:
        await stack.stop()
        raise
    return stack
