"""Bringing a whole stack up in order: broker and database (side by side), topics, then the four services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flowmatic_contracts.topics import Topics
from flowmatic_devstack.config import DATABASE_NAME, SERVICES, StackConfig
from flowmatic_devstack.kafka import ensure_kafka_libs, prepare_broker
from flowmatic_devstack.ports import ensure_ports_free
from flowmatic_devstack.postgres import ensure_database, find_pg_bin, prepare_cluster, server_dsn, with_database
from flowmatic_devstack.services import ServiceEnvironment, service_spec
from flowmatic_devstack.state_file import ComponentRecord, StackRecord
from flowmatic_devstack.supervisor import Supervisor
from flowmatic_devstack.topic_setup import ensure_topics

T = TypeVar("T")


async def together(*steps: Coroutine[Any, Any, T]) -> list[T]:
    """Run steps side by side; if one fails the others are cancelled and its own error (not a group) is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(step) for step in steps]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


class Progress:
    """Prints one line per component as it becomes ready, with the time since `up` began."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    def ready(self, component: str, detail: str) -> None:
        """Announce one ready component."""
        self.report(f"[{self.elapsed:5.1f}s] {component:<13} ready  {detail}")


def required_ports(config: StackConfig) -> dict[str, int]:
    """Every port this stack will listen on, by component (the broker's and database's only when started here)."""
    ports: dict[str, int] = {}
    if not config.external_kafka:
        ports["kafka"] = config.kafka_port
        ports["kafka controller"] = config.kafka_controller_port
    if not config.external_database:
        ports["postgres"] = config.postgres_port
    ports.update(config.service_ports)
    return ports


@dataclass(frozen=True)
class Infrastructure:
    """Where the broker and the database are."""

    kafka_bootstrap: str
    database_url: str
    """The DSN of the database the services use."""


async def start_kafka(supervisor: Supervisor, config: StackConfig, progress: Progress) -> str:
    """Start the broker (after collecting it once) unless KAFKA_BOOTSTRAP_SERVERS names one; returns bootstrap."""
    if config.external_kafka:
        progress.ready("kafka", f"{config.external_kafka} (KAFKA_BOOTSTRAP_SERVERS)")
        return config.external_kafka
    libs = await asyncio.to_thread(ensure_kafka_libs, config.cache_dir)
    spec = await prepare_broker(
        libs, config.state_dir / "kafka", config.logs_dir / "kafka.log", config.kafka_port, config.kafka_controller_port
    )
    await supervisor.start(spec)
    bootstrap = f"127.0.0.1:{config.kafka_port}"
    progress.ready("kafka", bootstrap)
    return bootstrap


async def start_postgres(
    supervisor: Supervisor, config: StackConfig, environ: Mapping[str, str], progress: Progress
) -> str:
    """Start PostgreSQL and create the `flowmatic` database unless DATABASE_URL names one; returns its DSN."""
    if config.external_database:
        progress.ready("postgres", "DATABASE_URL")
        return config.external_database
    spec = await prepare_cluster(
        find_pg_bin(environ), config.state_dir / "postgres", config.logs_dir / "postgres.log", config.postgres_port
    )
    await supervisor.start(spec)
    await ensure_database(server_dsn(config.postgres_port), DATABASE_NAME)
    url = with_database(server_dsn(config.postgres_port), DATABASE_NAME)
    progress.ready("postgres", url)
    return url


async def start_infrastructure(
    supervisor: Supervisor, config: StackConfig, environ: Mapping[str, str], progress: Progress
) -> Infrastructure:
    """Broker and database side by side (each takes seconds), then the topics."""
    kafka, database = await together(
        start_kafka(supervisor, config, progress), start_postgres(supervisor, config, environ, progress)
    )
    await ensure_topics(kafka, Topics(config.topic_prefix), config.partitions)
    progress.ready("topics", f"{config.topic_prefix}* ({config.partitions} partitions each)")
    return Infrastructure(kafka, database)


async def start_services(
    supervisor: Supervisor,
    config: StackConfig,
    settings: ServiceEnvironment,
    inherited: Mapping[str, str],
    progress: Progress,
) -> None:
    """Start the four services and wait until each answers /readyz."""

    async def start(service: str) -> None:
        spec = service_spec(service, 0, config.service_ports[service], settings, config.logs_dir, inherited)
        await supervisor.start(spec)
        progress.ready(service, f"http://127.0.0.1:{config.service_ports[service]}")

    await start_in_order(start)


async def start_in_order(start: Callable[[str], Coroutine[Any, Any, None]]) -> None:
    """Spawn query, orchestrator, executor and gateway in that order, and wait for all of them side by side.

    The gateway needs none of the others to start (it reaches them through the log and over HTTP per request),
    and `up` announces the stack only once all four are ready, so nothing is gained by waiting in turn.
    """
    await together(*(start(service) for service in SERVICES))


async def bring_up(
    supervisor: Supervisor,
    config: StackConfig,
    environ: Mapping[str, str],
    admin_key_env: Mapping[str, str],
    secret_key: str,
    progress: Progress,
) -> ServiceEnvironment:
    """Everything, in order; raises DevstackError (the caller stops what did start)."""
    ensure_ports_free(required_ports(config))
    infrastructure = await start_infrastructure(supervisor, config, environ, progress)
    settings = ServiceEnvironment(
        kafka_bootstrap=infrastructure.kafka_bootstrap,
        database_url=infrastructure.database_url,
        topic_prefix=config.topic_prefix,
        partitions=config.partitions,
        public_url=environ.get("FLOWMATIC_PUBLIC_URL") or config.public_url,
        query_url=environ.get("FLOWMATIC_QUERY_URL") or config.query_url,
        ports=config.service_ports,
        admin_key_env=admin_key_env,
        secret_key=secret_key,
    )
    await start_services(supervisor, config, settings, environ, progress)
    return settings


def stack_record(supervisor_pid: int, supervisor: Supervisor, public_url: str) -> StackRecord:
    """The state file's content for the components running now."""
    components = [
        ComponentRecord(process.name, process.pid, process.spec.endpoint)
        for process in supervisor.processes
        if process.pid is not None
    ]
    return StackRecord(supervisor_pid, public_url, components)
