"""The executor's configuration, from the environment (never read at import)."""

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
    host: str = Field(default="127.0.0.1", validation_alias="FLOWMATIC_EXECUTOR_HOST")
    port: int = Field(default=8083, validation_alias="FLOWMATIC_EXECUTOR_PORT")
    http_allow_private_networks: bool = Field(default=False, validation_alias="FLOWMATIC_HTTP_ALLOW_PRIVATE_NETWORKS")
    # A node without `timeoutSeconds` gets this for its HTTP call.
    default_timeout_seconds: float = Field(default=30, gt=0, validation_alias="FLOWMATIC_EXECUTOR_DEFAULT_TIMEOUT")
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1, validation_alias="FLOWMATIC_EXECUTOR_MAX_RESPONSE")
    max_batch_records: int = Field(default=100, ge=1, validation_alias="FLOWMATIC_EXECUTOR_BATCH_SIZE")
    max_concurrency: int = Field(default=64, ge=1, validation_alias="FLOWMATIC_EXECUTOR_CONCURRENCY")
    poll_timeout_ms: int = Field(default=100, ge=1, validation_alias="FLOWMATIC_EXECUTOR_POLL_TIMEOUT_MS")
    # The transactional producer's wait before retrying a retriable error. Kafka 4.1 was seen answering about 1
    # in 100 TxnOffsetCommit requests with COORDINATOR_NOT_AVAILABLE; aiokafka's 100 ms default then landed
    # whole on that batch, and on the synchronous webhook's p99 (benchmarks/sync_webhook_latency.py).
    retry_backoff_ms: int = Field(default=20, ge=1, validation_alias="FLOWMATIC_EXECUTOR_RETRY_BACKOFF_MS")

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}executor"

    @property
    def transactional_id(self) -> str:
        """Stable across restarts, so a restarted instance fences the zombie it replaces."""
        return f"{self.topic_prefix}executor-{self.instance_id}"
