"""Topic names and their layout. Every topic is keyed by aggregate id, so the orchestrator's inputs are
co-partitioned with its outputs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """The names of every topic, under a configurable prefix (default `flowmatic.`)."""

    prefix: str = "flowmatic."

    @property
    def commands(self) -> str:
        """API commands from the gateway (CreateWorkflow, StartExecution, ...), keyed by aggregate id."""
        return f"{self.prefix}commands"

    @property
    def webhooks(self) -> str:
        """WebhookReceived deliveries, keyed by the execution id the gateway assigned."""
        return f"{self.prefix}webhooks"

    @property
    def workflow_events(self) -> str:
        """The workflow aggregates' history, keyed by workflow id; kept forever."""
        return f"{self.prefix}workflow-events"

    @property
    def execution_events(self) -> str:
        """The executions' history, keyed by execution id; kept forever."""
        return f"{self.prefix}execution-events"

    @property
    def workflow_state(self) -> str:
        """Compacted latest state of each workflow (orchestrator snapshot), keyed by workflow id."""
        return f"{self.prefix}workflow-state"

    @property
    def execution_state(self) -> str:
        """Compacted latest state of each execution (orchestrator snapshot), keyed by execution id."""
        return f"{self.prefix}execution-state"

    @property
    def step_requests(self) -> str:
        """StepRequested for executors, keyed by execution id."""
        return f"{self.prefix}step-requests"

    @property
    def step_results(self) -> str:
        """StepSucceeded / StepFailed reported by executors, keyed by execution id."""
        return f"{self.prefix}step-results"

    @property
    def outcomes(self) -> str:
        """CommandAccepted / CommandRejected, keyed by correlation id, read by every gateway."""
        return f"{self.prefix}outcomes"

    @property
    def event_topics(self) -> tuple[str, ...]:
        """The topics the query service projects: the histories and the audit record (outcomes, deliveries)."""
        return (self.workflow_events, self.execution_events, self.webhooks, self.outcomes)


@dataclass(frozen=True)
class TopicLayout:
    """How a topic is created: partitions and configs."""

    name: str
    partitions: int
    configs: dict[str, str]


KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
SEVEN_DAYS = {"retention.ms": str(7 * 24 * 3600 * 1000)}


def topic_layouts(topics: Topics, partitions: int) -> list[TopicLayout]:
    """Every topic the platform needs. Event topics keep everything; command and step topics may expire.

    Webhook deliveries are kept forever too: they are the record of what arrived and the input of replay.
    """
    return [
        TopicLayout(topics.commands, partitions, SEVEN_DAYS),
        TopicLayout(topics.webhooks, partitions, KEEP_FOREVER),
        TopicLayout(topics.workflow_events, partitions, KEEP_FOREVER),
        TopicLayout(topics.execution_events, partitions, KEEP_FOREVER),
        TopicLayout(topics.workflow_state, partitions, COMPACTED),
        TopicLayout(topics.execution_state, partitions, COMPACTED),
        TopicLayout(topics.step_requests, partitions, SEVEN_DAYS),
        TopicLayout(topics.step_results, partitions, SEVEN_DAYS),
        # outcomes are the audit record of every command, accepted or rejected: kept forever
        TopicLayout(topics.outcomes, partitions, KEEP_FOREVER),
    ]
