"""The orchestrator's configuration, from the environment (never read at import)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowmatic_contracts.topics import Topics


class Settings(BaseSettings):
    """Environment variables, by their documented names; fields may also be passed by name in tests."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_prefix: str = Field(default="flowmatic.", validation_alias="FLOWMATIC_TOPIC_PREFIX")
    instance_id: str = Field(default="0", validation_alias="FLOWMATIC_INSTANCE_ID")
    host: str = Field(default="127.0.0.1", validation_alias="FLOWMATIC_ORCHESTRATOR_HOST")
    port: int = Field(default=8082, validation_alias="FLOWMATIC_ORCHESTRATOR_PORT")
    # Commands per transaction: larger batches amortise the transaction's round trips.
    max_batch_records: int = Field(default=500, ge=1, validation_alias="FLOWMATIC_ORCHESTRATOR_BATCH_SIZE")
    poll_timeout_ms: int = Field(default=100, ge=1, validation_alias="FLOWMATIC_ORCHESTRATOR_POLL_TIMEOUT_MS")
    linger_ms: int = Field(default=5, ge=0, validation_alias="FLOWMATIC_ORCHESTRATOR_LINGER_MS")
    # The transactional producer's wait before retrying a retriable error. Kafka 4.1 was seen answering about 1
    # in 100 TxnOffsetCommit requests with COORDINATOR_NOT_AVAILABLE; aiokafka's 100 ms default then landed
    # whole on that batch, and on the synchronous webhook's p99 (benchmarks/sync_webhook_latency.py).
    retry_backoff_ms: int = Field(default=20, ge=1, validation_alias="FLOWMATIC_ORCHESTRATOR_RETRY_BACKOFF_MS")

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}orchestrator"

    @property
    def transactional_id(self) -> str:
        """Stable across restarts, so a restarted instance fences the zombie it replaces."""
        return f"{self.topic_prefix}orchestrator-{self.instance_id}"
