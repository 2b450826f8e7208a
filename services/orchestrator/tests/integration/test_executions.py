"""Executions through the real broker: webhook and StartExecution starts, branches, retries with backoff, failing
nodes, repeated results, durable delays across a restart (and a SIGKILL), and two orchestrators sharing the work.
Every execution event read back is checked against the hash chain (`ExecutionLog.read_events`), so each of these
scenarios (restarts, SIGKILLs, handovers) also proves the chain continues through it.

The executor's part is played by `StandInExecutor` (consume step requests, report results as the test says), or by
the real executor's worker running in-process where the connectors' behaviour is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from flowmatic_contracts import ids
from flowmatic_contracts.commands import CreateWorkflow, DeleteWorkflow, StartExecution, UpdateWorkflow
from flowmatic_contracts.envelope import Actor, Envelope, Payload, decode, encode, new_envelope
from flowmatic_contracts.events import (
    CommandAccepted,
    CommandRejected,
    ExecutionFailed,
    ExecutionSucceeded,
    StepError,
    StepFailed,
    StepRequested,
    StepScheduled,
    StepSucceeded,
    WebhookReceived,
)
from flowmatic_contracts.topics import Topics
from flowmatic_contracts.workflow import WorkflowSpec
from flowmatic_devstack.pytest_plugin import TEST_PARTITIONS
from flowmatic_executor.bootstrap import open_worker
from flowmatic_executor.settings import Settings as ExecutorSettings
from flowmatic_orchestrator.bootstrap import Orchestrator, build
from flowmatic_orchestrator.settings import Settings

pytestmark = pytest.mark.integration

API_ACTOR = Actor(kind="apiKey", id="key_it")
DEADLINE_SECONDS = 60.0
FINAL = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled")

Behaviour = Callable[[StepRequested], StepSucceeded | StepFailed]


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, seconds: float = DEADLINE_SECONDS) -> None:
    """Poll `check` until it holds; fail with `what` after the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def spec(nodes: list[dict[str, Any]], connections: list[dict[str, Any]]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "it", "nodes": nodes, "connections": connections})


def chain(*node_ids: str) -> list[dict[str, Any]]:
    return [{"from": a, "to": b} for a, b in itertools.pairwise(node_ids)]


def settings_for(kafka_bootstrap: str, topics: Topics, instance_id: str = "0") -> Settings:
    return Settings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.prefix, instance_id=instance_id, poll_timeout_ms=50
    )


@asynccontextmanager
async def orchestrator(kafka_bootstrap: str, topics: Topics, instance_id: str = "0") -> AsyncIterator[Orchestrator]:
    """An orchestrator running in-process, ready (joined its group) before it is handed out."""
    async with AsyncExitStack() as stack:
        running = await build(settings_for(kafka_bootstrap, topics, instance_id), stack)
        task = asyncio.create_task(running.processor.run())
        try:
            await eventually(lambda: running.is_ready() or task.done(), f"orchestrator {instance_id} to be ready")
            assert not task.done(), task
            yield running
        finally:
            running.processor.stop()
            await task  # raises if the processor failed


class ExecutionLog:
    """Starts executions (webhook deliveries, StartExecution commands) and reads their committed history."""

    def __init__(self, kafka_bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
        self._events = _reader(kafka_bootstrap)
        self._outcomes = _reader(kafka_bootstrap)
        self.history: dict[str, list[Envelope]] = {}
        self.outcomes: dict[str, Envelope] = {}
        self._last_hash: dict[str, str] = {}

    async def start(self) -> None:
        await self._producer.start()
        for reader, topic in ((self._events, self.topics.execution_events), (self._outcomes, self.topics.outcomes)):
            await reader.start()
            reader.assign([TopicPartition(topic, p) for p in range(TEST_PARTITIONS)])

    async def stop(self) -> None:
        await self._producer.stop()
        await self._events.stop()
        await self._outcomes.stop()

    async def webhook(self, workflow: WorkflowSpec, payload: dict[str, Any], trigger_id: str = "trigger") -> str:
        """Deliver a webhook as the gateway does; returns the execution id it assigned."""
        execution_id = ids.new_id(ids.EXECUTION)
        delivery = WebhookReceived(
            webhook_id="wh_it",
            workflow_id="wf_it",
            workflow_version=1,
            trigger_id=trigger_id,
            payload=payload,
            spec=workflow,
        )
        envelope = new_envelope(
            delivery,
            aggregate_id=execution_id,
            actor=Actor(kind="webhook", id="wh_it"),
            correlation_id=ids.new_id(ids.CORRELATION),
        )
        await self._producer.send_and_wait(self.topics.webhooks, encode(envelope), key=execution_id.encode())
        return execution_id

    async def command(self, command: Payload, execution_id: str) -> Envelope:
        """Send a command as the gateway does; returns the sent envelope."""
        envelope = new_envelope(
            command, aggregate_id=execution_id, actor=API_ACTOR, correlation_id=ids.new_id(ids.CORRELATION)
        )
        await self._producer.send_and_wait(self.topics.commands, encode(envelope), key=execution_id.encode())
        return envelope

    async def outcome(self, correlation_id: str) -> Payload:
        async def arrived() -> bool:
            for records in (await self._outcomes.getmany(timeout_ms=100)).values():
                for envelope in (decode(r.value) for r in records):
                    self.outcomes[envelope.correlation_id] = envelope
            return correlation_id in self.outcomes

        await eventually(arrived, f"the outcome of {correlation_id}")
        return self.outcomes[correlation_id].payload

    async def read_events(self) -> None:
        """Read what was committed since; every event is checked against the hash chain as it arrives."""
        for records in (await self._events.getmany(timeout_ms=100)).values():
            for record in records:
                envelope = decode(record.value)
                history = self.history.setdefault(envelope.aggregate_id, [])
                # The chain: sequence n carries the SHA-256 of the record value of sequence n - 1 (none for 1).
                assert envelope.sequence == len(history) + 1, (envelope.aggregate_id, types([*history, envelope]))
                assert envelope.previous_hash == self._last_hash.get(envelope.aggregate_id), envelope
                self._last_hash[envelope.aggregate_id] = hashlib.sha256(record.value).hexdigest()
                history.append(envelope)

    async def until(self, execution_id: str, condition: Callable[[list[Envelope]], bool], what: str) -> list[Envelope]:
        async def holds() -> bool:
            await self.read_events()
            return condition(self.history.get(execution_id, []))

        await eventually(holds, f"{what} of {execution_id}")
        return self.history[execution_id]

    async def finished(self, execution_id: str) -> list[Envelope]:
        """The execution's history once it has ended."""
        return await self.until(execution_id, lambda h: any(e.type in FINAL for e in h), "the end")


def _reader(kafka_bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def pass_through(request: StepRequested) -> StepSucceeded | StepFailed:
    return StepSucceeded(node_id=request.node_id, attempt=request.attempt, output=request.input)


class StandInExecutor:
    """Plays the executors' part: reads step requests and reports what `behave` says, `copies` times each."""

    def __init__(self, kafka_bootstrap: str, topics: Topics, behave: Behaviour = pass_through, copies: int = 1) -> None:
        self.topics = topics
        self.behave = behave
        self.copies = copies
        self.requests: list[tuple[float, Envelope]] = []
        self._consumer = _reader(kafka_bootstrap)
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StandInExecutor:
        await self._producer.start()
        await self._consumer.start()
        self._consumer.assign([TopicPartition(self.topics.step_requests, p) for p in range(TEST_PARTITIONS)])
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()
        await self._producer.stop()

    def attempts(self, execution_id: str, node_id: str) -> list[tuple[float, StepRequested]]:
        """(monotonic time received, request) of every request for one node."""
        found = [(at, e.payload_as(StepRequested)) for at, e in self.requests if e.aggregate_id == execution_id]
        return [(at, r) for at, r in found if r.node_id == node_id]

    async def _run(self) -> None:
        while True:
            for records in (await self._consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    request = decode(record.value)
                    self.requests.append((time.monotonic(), request))
                    step = request.payload_as(StepRequested)
                    result = new_envelope(
                        self.behave(step),
                        aggregate_id=step.execution_id,
                        actor=request.actor,
                        correlation_id=request.correlation_id,
                        causation_id=request.id,
                    )
                    for _ in range(self.copies):
                        await self._producer.send_and_wait(
                            self.topics.step_results, encode(result), key=step.execution_id.encode()
                        )


@pytest.fixture
async def log(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[ExecutionLog]:
    opened = ExecutionLog(kafka_bootstrap, topics)
    try:
        await opened.start()
        yield opened
    finally:
        await opened.stop()


@asynccontextmanager
async def real_executor(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[None]:
    """The executor service's worker, in-process."""
    settings = ExecutorSettings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.prefix, poll_timeout_ms=50)
    async with AsyncExitStack() as stack:
        worker = await open_worker(settings, stack)
        task = asyncio.create_task(worker.run())
        try:
            await eventually(lambda: worker.joined or task.done(), "the executor to join")
            yield
        finally:
            worker.stop()
            await task


def types(history: list[Envelope]) -> list[tuple[str, str | None]]:
    """(event type, node id) of each event, for readable assertions."""
    return [(e.type, getattr(e.payload, "node_id", None)) for e in history]


def assert_well_formed(history: list[Envelope]) -> None:
    """Sequences 1..n without gaps, no step result recorded twice, exactly one end."""
    assert [e.sequence for e in history] == list(range(1, len(history) + 1)), types(history)
    results = [
        (e.type, e.payload.node_id, e.payload.attempt)
        for e in history
        if isinstance(e.payload, StepSucceeded | StepFailed)
    ]
    assert len(results) == len(set(results)), results
    assert sum(e.type in FINAL for e in history) == 1
    assert history[-1].type in FINAL


BRANCHING = spec(
    [
        {"id": "trigger", "type": "webhook"},
        {"id": "shape", "type": "set", "parameters": {"fields": {"amount": "{{ $input.body.amount }}"}}},
        {
            "id": "big",
            "type": "if",
            "parameters": {"conditions": [{"left": "{{ $input.amount }}", "operator": "gt", "right": 100}]},
        },
        {"id": "yes", "type": "noop"},
        {"id": "no", "type": "noop"},
    ],
    [
        *chain("trigger", "shape", "big"),
        {"from": "big", "to": "yes", "output": "true"},
        {"from": "big", "to": "no", "output": "false"},
    ],
)


# ---- tests ----------------------------------------------------------------------------------------------------


async def test_webhook_executions_take_the_branch_their_input_chooses(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    async with orchestrator(kafka_bootstrap, topics), real_executor(kafka_bootstrap, topics):
        large = await log.webhook(BRANCHING, {"body": {"amount": 150}})
        small = await log.webhook(BRANCHING, {"body": {"amount": 7}})
        large_history = await log.finished(large)
        small_history = await log.finished(small)

    for history in (large_history, small_history):
        assert_well_formed(history)
        assert history[0].type == "ExecutionStarted" and history[0].payload.mode == "webhook"  # type: ignore[attr-defined]
        assert all(e.actor == Actor(kind="webhook", id="wh_it") for e in history)
        assert len({e.correlation_id for e in history}) == 1
        assert all(e.causation_id for e in history)
    assert ("StepSkipped", "no") in types(large_history) and ("StepSkipped", "yes") in types(small_history)
    end = large_history[-1].payload
    assert isinstance(end, ExecutionSucceeded) and end.output == {"yes": {"amount": 150}}
    end = small_history[-1].payload
    assert isinstance(end, ExecutionSucceeded) and end.output == {"no": {"amount": 7}}
    assert types(large_history) == [
        ("ExecutionStarted", None),
        ("StepSucceeded", "trigger"),
        ("StepScheduled", "shape"),
        ("StepSucceeded", "shape"),
        ("StepScheduled", "big"),
        ("StepSucceeded", "big"),
        ("StepScheduled", "yes"),
        ("StepSkipped", "no"),
        ("StepSucceeded", "yes"),
        ("ExecutionSucceeded", None),
    ]


async def test_start_execution_is_accepted_once_and_runs(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    workflow = spec([{"id": "go", "type": "manual"}, {"id": "n", "type": "noop"}], chain("go", "n"))
    execution_id = ids.new_id(ids.EXECUTION)
    start = StartExecution(workflow_id="wf_it", workflow_version=3, spec=workflow, trigger_id="go", input={"x": 1})
    async with orchestrator(kafka_bootstrap, topics), StandInExecutor(kafka_bootstrap, topics):
        sent = await log.command(start, execution_id)
        accepted = await log.outcome(sent.correlation_id)
        assert isinstance(accepted, CommandAccepted), accepted
        assert accepted.aggregate_id == execution_id and accepted.command_id == sent.id
        assert accepted.version == 3  # ExecutionStarted, the trigger's StepSucceeded, StepScheduled of n

        again = await log.command(start, execution_id)
        rejected = await log.outcome(again.correlation_id)
        assert isinstance(rejected, CommandRejected) and rejected.status == 409

        history = await log.finished(execution_id)
    assert_well_formed(history)
    assert history[0].payload.mode == "manual" and history[0].causation_id == sent.id  # type: ignore[attr-defined]
    assert all(e.actor == API_ACTOR and e.correlation_id == sent.correlation_id for e in history)
    assert isinstance(history[-1].payload, ExecutionSucceeded) and history[-1].payload.output == {"n": {"x": 1}}
    assert sum(e.type == "ExecutionStarted" for e in history) == 1  # the second start changed nothing


async def test_retryable_failures_are_retried_after_a_doubling_backoff(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    def flaky(request: StepRequested) -> StepSucceeded | StepFailed:
        if request.node_id == "call" and request.attempt < 3:
            return StepFailed(node_id="call", attempt=request.attempt, error=StepError(message="503", retryable=True))
        return pass_through(request)

    workflow = spec(
        [
            {"id": "trigger", "type": "webhook"},
            {"id": "call", "type": "noop", "retry": {"maxAttempts": 3, "backoffSeconds": 0.6}},
            {"id": "after", "type": "noop"},
        ],
        chain("trigger", "call", "after"),
    )
    async with orchestrator(kafka_bootstrap, topics), StandInExecutor(kafka_bootstrap, topics, flaky) as executor:
        execution_id = await log.webhook(workflow, {"n": 1})
        history = await log.finished(execution_id)
        attempts = executor.attempts(execution_id, "call")

    assert_well_formed(history)
    assert isinstance(history[-1].payload, ExecutionSucceeded)
    assert [r.attempt for _, r in attempts] == [1, 2, 3]
    # Each retry waits at least its backoff (0.6 s, then 1.2 s) after the failure was reported.
    assert attempts[1][0] - attempts[0][0] >= 0.6 * 0.95
    assert attempts[2][0] - attempts[1][0] >= 1.2 * 0.95
    scheduled = [e.payload for e in history if isinstance(e.payload, StepScheduled) and e.payload.node_id == "call"]
    # A retry is scheduled with its notBefore, then scheduled again (dispatched) when the timer fires.
    assert [(s.attempt, s.not_before is not None) for s in scheduled] == [
        (1, False),
        (2, True),
        (2, False),
        (3, True),
        (3, False),
    ]
    assert all(s.input == {"n": 1} for s in scheduled)  # a retry resumes with the same input


async def test_a_failing_node_fails_the_execution_naming_it(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    workflow = spec(
        [
            {"id": "trigger", "type": "webhook"},
            {"id": "boom", "type": "fail", "parameters": {"message": "the order {{ $input.id }} is invalid"}},
            {"id": "never", "type": "noop"},
        ],
        chain("trigger", "boom", "never"),
    )
    async with orchestrator(kafka_bootstrap, topics), real_executor(kafka_bootstrap, topics):
        execution_id = await log.webhook(workflow, {"id": 42})
        history = await log.finished(execution_id)
    assert_well_formed(history)
    end = history[-1].payload
    assert isinstance(end, ExecutionFailed)
    assert end.error.node_id == "boom" and end.error.message == "the order 42 is invalid"
    assert ("StepScheduled", "never") not in types(history)


async def test_results_delivered_twice_are_recorded_once(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    workflow = spec(
        [{"id": "trigger", "type": "webhook"}, {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
        chain("trigger", "a", "b"),
    )
    async with orchestrator(kafka_bootstrap, topics), StandInExecutor(kafka_bootstrap, topics, copies=2) as executor:
        execution_ids = [await log.webhook(workflow, {"i": i}) for i in range(10)]
        histories = [await log.finished(e) for e in execution_ids]
        # Give the repeated results of the last steps time to arrive and be ignored.
        await eventually(lambda: len(executor.requests) >= 20, "every request to be answered")
        await asyncio.sleep(1.0)
        await log.read_events()
    for execution_id, history in zip(execution_ids, histories, strict=True):
        assert log.history[execution_id] == history  # nothing was appended after the end
        assert_well_formed(history)
        assert isinstance(history[-1].payload, ExecutionSucceeded)
        assert types(history).count(("StepSucceeded", "a")) == 1
    assert len(executor.requests) == 20  # one request per step: repeats never re-dispatch


async def test_a_delay_completes_after_the_orchestrator_is_restarted(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    workflow = spec(
        [
            {"id": "trigger", "type": "webhook"},
            {"id": "wait", "type": "delay", "parameters": {"seconds": "{{ $input.seconds }}"}},
            {"id": "after", "type": "noop"},
        ],
        chain("trigger", "wait", "after"),
    )
    async with StandInExecutor(kafka_bootstrap, topics):
        async with orchestrator(kafka_bootstrap, topics) as first:
            execution_id = await log.webhook(workflow, {"seconds": 3})
            history = await log.until(
                execution_id, lambda h: ("StepScheduled", "wait") in types(h), "the delay to be scheduled"
            )
            assert first.processor.pending_timers == 1
        # The first instance is gone with its in-memory timer; the snapshot still holds the delay.
        not_before = next(e.payload for e in history if isinstance(e.payload, StepScheduled)).not_before
        assert not_before is not None
        async with orchestrator(kafka_bootstrap, topics) as second:
            assert second.processor.executions.count() == 1 and second.processor.pending_timers == 1
            history = await log.finished(execution_id)
    assert_well_formed(history)
    assert isinstance(history[-1].payload, ExecutionSucceeded)
    waited = next(e for e in history if e.type == "StepSucceeded" and e.payload.node_id == "wait")  # type: ignore[attr-defined]
    assert waited.occurred_at >= datetime.fromisoformat(not_before)
    assert waited.occurred_at - history[0].occurred_at >= timedelta(seconds=3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def orchestrator_process(
    kafka_bootstrap: str, topics: Topics, output: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m flowmatic_orchestrator` as its own process (instance 0), its log appended to `output`; killed
    on the way out if still running. The log is printed afterwards, so pytest shows it when the test fails."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "FLOWMATIC_TOPIC_PREFIX": topics.prefix,
        "FLOWMATIC_ORCHESTRATOR_PORT": str(_free_port()),
        "FLOWMATIC_INSTANCE_ID": "0",
    }
    with output.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flowmatic_orchestrator", env=env, stdout=sink, stderr=sink
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        print(await asyncio.to_thread(output.read_text))


async def sigkill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), timeout=10)


async def test_a_delay_survives_a_sigkilled_orchestrator(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog, tmp_path: Path
) -> None:
    workflow = spec(
        [
            {"id": "trigger", "type": "webhook"},
            {"id": "wait", "type": "delay", "parameters": {"seconds": 3}},
            {"id": "after", "type": "noop"},
        ],
        chain("trigger", "wait", "after"),
    )
    async with (
        StandInExecutor(kafka_bootstrap, topics),
        orchestrator_process(kafka_bootstrap, topics, tmp_path / "orchestrator.log") as process,
    ):
        execution_id = await log.webhook(workflow, {"n": 1})
        await log.until(execution_id, lambda h: ("StepScheduled", "wait") in types(h), "the delay to be scheduled")
        await sigkill(process)
        # Same instance id: the successor fences whatever the killed process left open.
        async with orchestrator(kafka_bootstrap, topics, "0"):
            history = await log.finished(execution_id)
    assert_well_formed(history)
    assert isinstance(history[-1].payload, ExecutionSucceeded)


async def test_every_delivery_runs_exactly_once_while_the_orchestrator_is_sigkilled(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog, tmp_path: Path
) -> None:
    """Deliveries keep arriving while the orchestrator is killed twice mid-stream and restarted; afterwards each
    one has exactly one execution, SUCCEEDED, with gapless sequences and no step result recorded twice."""
    output = tmp_path / "orchestrator.log"
    execution_ids: list[str] = []
    async with real_executor(kafka_bootstrap, topics):
        for _ in range(2):
            async with orchestrator_process(kafka_bootstrap, topics, output) as process:
                execution_ids.extend([await log.webhook(BRANCHING, {"body": {"amount": i * 3}}) for i in range(100)])
                # Killed as soon as the orchestrator is under way: most executions are mid-flight.
                await log.until(execution_ids[-100], lambda h: len(h) > 1, "progress before the kill")
                await sigkill(process)
                await log.read_events()
                in_flight = [e for e in execution_ids if not any(x.type in FINAL for x in log.history.get(e, []))]
                print(f"killed with {len(in_flight)} of {len(execution_ids)} executions unfinished")
        async with orchestrator_process(kafka_bootstrap, topics, output):
            execution_ids.extend([await log.webhook(BRANCHING, {"body": {"amount": 1}}) for _ in range(50)])
            histories = [await log.finished(e) for e in execution_ids]
            await asyncio.sleep(1.0)  # anything recorded after an end would show up now
            await log.read_events()
    assert len(set(execution_ids)) == 250
    assert set(log.history) == set(execution_ids)
    for execution_id, history in zip(execution_ids, histories, strict=True):
        assert log.history[execution_id] == history
        assert_well_formed(history)
        assert isinstance(history[-1].payload, ExecutionSucceeded), types(history)
        assert sum(e.type == "ExecutionStarted" for e in history) == 1


async def test_two_orchestrators_share_executions_and_hand_them_over(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    workflow = spec(
        [
            {"id": "trigger", "type": "webhook"},
            {"id": "first", "type": "noop"},
            {"id": "wait", "type": "delay", "parameters": {"seconds": 4}},
            {"id": "last", "type": "noop"},
        ],
        chain("trigger", "first", "wait", "last"),
    )
    async with StandInExecutor(kafka_bootstrap, topics), orchestrator(kafka_bootstrap, topics, "0") as one:
        async with orchestrator(kafka_bootstrap, topics, "1") as two:
            await eventually(
                lambda: bool(one.processor.assignment) and bool(two.processor.assignment),
                "both instances to own partitions",
            )
            execution_ids = [await log.webhook(workflow, {"i": i}) for i in range(16)]
            for execution_id in execution_ids:
                await log.until(execution_id, lambda h: ("StepScheduled", "wait") in types(h), "the delay")
            # Each instance holds the delayed executions of its own partitions.
            assert one.processor.executions.count() > 0 and two.processor.executions.count() > 0
            assert one.processor.executions.count() + two.processor.executions.count() == len(execution_ids)
        # The second instance left mid-delay: the first restores its executions and fires their timers.
        histories = [await log.finished(e) for e in execution_ids]
        assert one.processor.executions.count() == 0
    for history in histories:
        assert_well_formed(history)
        assert isinstance(history[-1].payload, ExecutionSucceeded)


async def test_deliveries_waiting_before_the_orchestrator_starts_are_all_processed(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    """Records fetched while the first assignment is still being restored must not count as processed."""
    workflow = spec([{"id": "trigger", "type": "webhook"}, {"id": "n", "type": "noop"}], chain("trigger", "n"))
    execution_ids = [await log.webhook(workflow, {"i": i}) for i in range(30)]
    async with StandInExecutor(kafka_bootstrap, topics), orchestrator(kafka_bootstrap, topics):
        histories = [await log.finished(e) for e in execution_ids]
    for history in histories:
        assert_well_formed(history)
        assert isinstance(history[-1].payload, ExecutionSucceeded)


# ---- the hash chain, from the log alone ---------------------------------------------------------------------


async def committed_chains(kafka_bootstrap: str, topics: list[str]) -> dict[str, list[bytes]]:
    """Every committed record value of `topics` from offset 0, grouped by key (the aggregate), in log order."""
    reader = _reader(kafka_bootstrap)
    await reader.start()
    try:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(TEST_PARTITIONS)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        ends = await reader.end_offsets(tps)
        chains: dict[str, list[bytes]] = {}

        async def read_to_end() -> bool:
            for records in (await reader.getmany(timeout_ms=100)).values():
                for record in records:
                    chains.setdefault(record.key.decode(), []).append(record.value)
            return all([await reader.position(tp) >= ends[tp] for tp in tps])

        await eventually(read_to_end, "the events topics to be read to their end")
        return chains
    finally:
        await reader.stop()


def assert_chained(raws: list[bytes]) -> None:
    """What an auditor checks: sequences 1..n, and each previousHash the SHA-256 of the record value before it."""
    envelopes = [decode(raw) for raw in raws]
    assert [e.sequence for e in envelopes] == list(range(1, len(raws) + 1)), [e.type for e in envelopes]
    assert envelopes[0].previous_hash is None
    for (before, _), (_, after) in itertools.pairwise(zip(raws, envelopes, strict=True)):
        assert after.previous_hash == hashlib.sha256(before).hexdigest(), (after.aggregate_id, after.sequence)


async def test_every_event_chain_in_the_log_holds_across_a_restart(
    kafka_bootstrap: str, topics: Topics, log: ExecutionLog
) -> None:
    """Workflow and execution events written by two incarnations (the second restores from snapshots mid-delay)
    form one unbroken chain per aggregate when read back from the committed log."""
    workflow = spec(
        [
            {"id": "trigger", "type": "webhook"},
            {"id": "a", "type": "noop"},
            {"id": "wait", "type": "delay", "parameters": {"seconds": 2}},
            {"id": "b", "type": "noop"},
        ],
        chain("trigger", "a", "wait", "b"),
    )
    workflow_id = ids.new_id(ids.WORKFLOW)

    async def accepted(command: Payload) -> None:
        sent = await log.command(command, workflow_id)
        assert isinstance(await log.outcome(sent.correlation_id), CommandAccepted)

    async with StandInExecutor(kafka_bootstrap, topics):
        async with orchestrator(kafka_bootstrap, topics):
            await accepted(CreateWorkflow(spec=workflow))
            await accepted(UpdateWorkflow(spec=workflow))
            execution_ids = [await log.webhook(workflow, {"i": i}) for i in range(8)]
            for execution_id in execution_ids:
                await log.until(execution_id, lambda h: ("StepScheduled", "wait") in types(h), "the delay")
        # The first incarnation is gone mid-delay: the second continues every chain from the snapshots alone.
        async with orchestrator(kafka_bootstrap, topics) as second:
            assert second.processor.executions.count() == len(execution_ids)
            await accepted(UpdateWorkflow(spec=workflow))
            await accepted(DeleteWorkflow())
            histories = [await log.finished(e) for e in execution_ids]

    chains = await committed_chains(kafka_bootstrap, [topics.workflow_events, topics.execution_events])
    assert set(chains) == {workflow_id, *execution_ids}
    assert [decode(raw).type for raw in chains[workflow_id]] == [
        "WorkflowCreated",
        "WorkflowUpdated",
        "WorkflowUpdated",
        "WorkflowDeleted",
    ]
    for execution_id, history in zip(execution_ids, histories, strict=True):
        assert [decode(raw) for raw in chains[execution_id]] == history
        assert isinstance(history[-1].payload, ExecutionSucceeded)
    for raws in chains.values():
        assert_chained(raws)
