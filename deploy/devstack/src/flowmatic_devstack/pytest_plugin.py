"""pytest fixtures for the real infrastructure: a Kafka broker, PostgreSQL, fresh topics and databases, whole stacks.

Infrastructure (session-scoped):
- `kafka_bootstrap` -> "host:port". `KAFKA_BOOTSTRAP_SERVERS` names an existing broker; otherwise a single-node
  broker is started on free ports in a temporary folder for the session and stopped (and deleted) at its end.
- `database_url` -> the DSN of a server's maintenance database. `DATABASE_URL` names an existing server;
  otherwise a PostgreSQL cluster is started the same way.

Per test:
- `fresh_database` -> DSN of a new empty database on that server, dropped afterwards.
- `topics` -> a `Topics` with a prefix unique to the test, every topic created with 2 partitions.
- `stack` -> a `RunningStack`: the four services (query, orchestrator, executor, gateway) started as real
  processes against the session's broker, a fresh database and fresh topics (2 partitions), on free ports, with
  FLOWMATIC_HTTP_ALLOW_PRIVATE_NETWORKS=true. Use:

      async def test_x(stack: RunningStack) -> None:
          headers = {"Authorization": f"Bearer {stack.admin_key}"}
          async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers) as api: ...
          stack.kill("orchestrator")              # SIGKILL, as a crash would
          await stack.restart("orchestrator")     # same port and instance id; returns once /readyz is 200
          name = await stack.start_instance("orchestrator")  # "orchestrator-1", FLOWMATIC_INSTANCE_ID=1
          stack.url("query"), stack.process("gateway").log_tail(), stack.topics, stack.database_url

- `stack_factory` -> `await stack_factory(extra_env={...}, partitions=2)` for several stacks or other settings.
Every stack is stopped after the test; a service that died without being killed fails the test with its log tail.

Per session:
- `shared_stack` -> one `RunningStack` for the whole session, for tests that only talk to the API (saves the
  seconds a stack takes to start). Never kill or restart its services: use `stack` for that.

In CI (`CI=true`) the session fails if no `integration`-marked test ran or one was skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from flowmatic_contracts.topics import Topics
from flowmatic_devstack.harness import (
    RunningStack,
    create_database,
    default_cache_dir,
    drop_database,
    running_kafka,
    running_postgres,
    start_stack,
)
from flowmatic_devstack.topic_setup import delete_topics, ensure_topics

TEST_PARTITIONS = 2

__all__ = ["RunningStack", "StackFactory"]


@pytest.fixture(scope="session")
async def kafka_bootstrap() -> AsyncIterator[str]:
    """The bootstrap servers of a real broker for this test session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    async with running_kafka(default_cache_dir()) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """The DSN of a real PostgreSQL server (its maintenance database) for this test session."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    async with running_postgres() as dsn:
        yield dsn


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """A new, empty database on the session's server; dropped afterwards."""
    dsn = await create_database(database_url)
    yield dsn
    await drop_database(database_url, dsn)


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[Topics]:
    """Every platform topic under a prefix unique to this test, so tests never see each other's messages;
    deleted afterwards, so a long session does not pile partitions up on one broker."""
    fresh = Topics(prefix=f"t{os.urandom(5).hex()}.")
    await ensure_topics(kafka_bootstrap, fresh, TEST_PARTITIONS)
    yield fresh
    await delete_topics(kafka_bootstrap, fresh)


class StackFactory(Protocol):
    """Starts one more stack for the current test."""

    async def __call__(
        self, *, extra_env: Mapping[str, str] | None = None, partitions: int = TEST_PARTITIONS
    ) -> RunningStack: ...


@pytest.fixture
async def stack_factory(kafka_bootstrap: str, database_url: str, tmp_path: Path) -> AsyncIterator[StackFactory]:
    """Start stacks on demand; all are stopped, and their databases dropped, after the test."""
    started: list[RunningStack] = []

    async def make(*, extra_env: Mapping[str, str] | None = None, partitions: int = TEST_PARTITIONS) -> RunningStack:
        database = await create_database(database_url)
        try:
            stack = await start_stack(
                kafka_bootstrap,
                database,
                tmp_path / f"stack{len(started)}",
                partitions=partitions,
                extra_env=extra_env,
            )
        except BaseException:
            await drop_database(database_url, database)
            raise
        started.append(stack)
        return stack

    yield make
    died: list[str] = []
    for stack in started:
        died += stack.unexpected_exits()
        await stack.stop()
        await drop_database(database_url, stack.database_url)
        await delete_topics(kafka_bootstrap, stack.topics)
    if died:
        pytest.fail("a service died during the test:\n" + "\n".join(died), pytrace=False)


@pytest.fixture
async def stack(stack_factory: StackFactory) -> RunningStack:
    """The four services, started for this test (see the module docstring)."""
    return await stack_factory()


@pytest.fixture(scope="session")
async def shared_stack(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningStack]:
    """One stack for every test of the session that asks for it (see the module docstring)."""
    database = await create_database(database_url)
    try:
        running = await start_stack(kafka_bootstrap, database, tmp_path_factory.mktemp("shared-stack"))
    except BaseException:
        await drop_database(database_url, database)
        raise
    yield running
    died = running.unexpected_exits()
    await running.stop()
    await drop_database(database_url, database)
    if died:
        pytest.fail("a service of the shared stack died:\n" + "\n".join(died), pytrace=False)


class _IntegrationTally:
    """Counts integration tests that ran and that were skipped, for the CI check."""

    def __init__(self) -> None:
        self.ran = 0
        self.skipped = 0


_tally = _IntegrationTally()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Tally integration tests."""
    if "integration" not in report.keywords:
        return
    if report.skipped:
        _tally.skipped += 1
    elif report.when == "call":
        _tally.ran += 1


def _integration_problem() -> str | None:
    if os.environ.get("CI") != "true":
        return None
    if _tally.ran == 0:
        return "CI: no integration test ran"
    if _tally.skipped:
        return f"CI: {_tally.skipped} integration test(s) skipped; in CI every one must run"
    return None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a run without integration tests (or with skipped ones) fails."""
    problem = _integration_problem()
    if problem is not None and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many integration tests ran (real broker and database), and why the CI check failed, if it did."""
    if _tally.ran or _tally.skipped:
        terminalreporter.write_line(f"integration tests: {_tally.ran} ran, {_tally.skipped} skipped")
    problem = _integration_problem()
    if problem is not None:
        terminalreporter.write_line(problem, red=True, bold=True)
