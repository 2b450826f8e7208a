"""The query service's configuration, read from the environment (never at import time)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# services/query/src/flowmatic_query/settings.py -> the repository root is four levels up.
_REPO_ROOT = Path(__file__).resolve().parents[4]


class Settings(BaseSettings):
    """Environment variables by their documented names; fields may also be passed by name in tests."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5433/postgres", validation_alias="DATABASE_URL")
    topic_prefix: str = Field(default="flowmatic.", validation_alias="FLOWMATIC_TOPIC_PREFIX")
    public_url: str = Field(default="http://127.0.0.1:8080", validation_alias="FLOWMATIC_PUBLIC_URL")
    port: int = Field(default=8081, ge=0, le=65535, validation_alias="FLOWMATIC_QUERY_PORT")
    migrations_dir: Path = Field(
        default=_REPO_ROOT / "deploy" / "postgres" / "migrations", validation_alias="FLOWMATIC_MIGRATIONS_DIR"
    )
    retention_sweep_seconds: float = Field(
        default=3600.0, gt=0, le=86_400, validation_alias="FLOWMATIC_RETENTION_SWEEP_SECONDS"
    )
    sync_timeout_seconds: float = Field(default=10.0, gt=0, le=300, validation_alias="FLOWMATIC_SYNC_TIMEOUT_SECONDS")
