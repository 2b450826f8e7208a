"""The gateway's configuration, read from the environment (never at import time)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment settings of the gateway. One of the admin key or its SHA-256 is required."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers")
    )
    topic_prefix: str = Field(
        default="flowmatic.", validation_alias=AliasChoices("FLOWMATIC_TOPIC_PREFIX", "topic_prefix")
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080", validation_alias=AliasChoices("FLOWMATIC_PUBLIC_URL", "public_url")
    )
    query_url: str = Field(
        default="http://127.0.0.1:8081", validation_alias=AliasChoices("FLOWMATIC_QUERY_URL", "query_url")
    )
    port: int = Field(default=8080, validation_alias=AliasChoices("FLOWMATIC_GATEWAY_PORT", "port"))
    admin_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FLOWMATIC_ADMIN_API_KEY", "admin_api_key")
    )
    admin_api_key_sha256: str | None = Field(
        default=None, validation_alias=AliasChoices("FLOWMATIC_ADMIN_API_KEY_SHA256", "admin_api_key_sha256")
    )
    secret_key: SecretStr = Field(validation_alias=AliasChoices("FLOWMATIC_SECRET_KEY", "secret_key"))
    command_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("FLOWMATIC_COMMAND_TIMEOUT_SECONDS", "command_timeout_seconds"),
    )
    # Per-webhook token bucket on each gateway instance; off (None) by default. Burst defaults to max(1, rate).
    webhook_rate_limit_per_second: float | None = Field(
        default=None,
        gt=0,
        validation_alias=AliasChoices("FLOWMATIC_WEBHOOK_RATE_LIMIT_PER_SECOND", "webhook_rate_limit_per_second"),
    )
    webhook_rate_limit_burst: float | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices("FLOWMATIC_WEBHOOK_RATE_LIMIT_BURST", "webhook_rate_limit_burst"),
    )
    # How long a replaced webhook secret stays valid after the update that replaced it.
    webhook_previous_secret_ttl_seconds: float = Field(
        default=86_400,
        ge=0,
        validation_alias=AliasChoices(
            "FLOWMATIC_WEBHOOK_PREVIOUS_SECRET_TTL_SECONDS", "webhook_previous_secret_ttl_seconds"
        ),
    )

    @model_validator(mode="after")
    def _one_admin_key(self) -> Settings:
        if self.admin_api_key is None and not self.admin_api_key_sha256:
            raise ValueError("set FLOWMATIC_ADMIN_API_KEY or FLOWMATIC_ADMIN_API_KEY_SHA256")
        if self.admin_api_key_sha256 is not None:
            digest = self.admin_api_key_sha256.strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("FLOWMATIC_ADMIN_API_KEY_SHA256 must be 64 hex digits")
            self.admin_api_key_sha256 = digest
        return self

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def query_base(self) -> str:
        return self.query_url.rstrip("/")
