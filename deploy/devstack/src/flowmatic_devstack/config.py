"""The stack's configuration, read once from the environment (see the README's configuration table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.paths import REPO_ROOT

SERVICES = ("query", "orchestrator", "executor", "gateway")
"""The four services, in the order they are started (the gateway last: it calls the query service)."""

DEFAULT_SERVICE_PORTS = {"gateway": 8080, "query": 8081, "orchestrator": 8082, "executor": 8083}
DEFAULT_KAFKA_PORT = 9092
DEFAULT_KAFKA_CONTROLLER_PORT = 9093
DEFAULT_POSTGRES_PORT = 5433
DEFAULT_PARTITIONS = 4
DEFAULT_TOPIC_PREFIX = "flowmatic."
DATABASE_NAME = "flowmatic"


@dataclass(frozen=True)
class StackConfig:
    """Everything `flowmatic up` needs to know before it starts anything."""

    state_dir: Path
    cache_dir: Path
    kafka_port: int = DEFAULT_KAFKA_PORT
    kafka_controller_port: int = DEFAULT_KAFKA_CONTROLLER_PORT
    postgres_port: int = DEFAULT_POSTGRES_PORT
    service_ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SERVICE_PORTS))
    external_kafka: str | None = None
    """`KAFKA_BOOTSTRAP_SERVERS`: use this broker instead of starting one."""
    external_database: str | None = None
    """`DATABASE_URL`: use this database instead of starting PostgreSQL."""
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    partitions: int = DEFAULT_PARTITIONS

    @property
    def public_url(self) -> str:
        """The default base of webhook URLs and `Location` headers: the gateway's own address."""
        return f"http://127.0.0.1:{self.service_ports['gateway']}"

    @property
    def query_url(self) -> str:
        """Where the gateway reaches the query service."""
        return f"http://127.0.0.1:{self.service_ports['query']}"

    @property
    def logs_dir(self) -> Path:
        """One log file per process."""
        return self.state_dir / "logs"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], cwd: Path) -> StackConfig:
        """Read the configuration; relative folders are taken from `cwd` (the state) or the repository (the cache)."""
        state_dir = Path(environ.get("FLOWMATIC_STATE_DIR") or ".state")
        cache_dir = Path(environ.get("FLOWMATIC_CACHE_DIR") or REPO_ROOT / ".cache")
        ports = {
            name: _port(environ, f"FLOWMATIC_{name.upper()}_PORT", default)
            for name, default in DEFAULT_SERVICE_PORTS.items()
        }
        return cls(
            state_dir=(cwd / state_dir).resolve(),
            cache_dir=(cwd / cache_dir).resolve(),
            kafka_port=_port(environ, "FLOWMATIC_KAFKA_PORT", DEFAULT_KAFKA_PORT),
            kafka_controller_port=_port(environ, "FLOWMATIC_KAFKA_CONTROLLER_PORT", DEFAULT_KAFKA_CONTROLLER_PORT),
            postgres_port=_port(environ, "FLOWMATIC_POSTGRES_PORT", DEFAULT_POSTGRES_PORT),
            service_ports=ports,
            external_kafka=environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            external_database=environ.get("DATABASE_URL") or None,
            topic_prefix=environ.get("FLOWMATIC_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX),
            partitions=_positive(environ, "FLOWMATIC_PARTITIONS", DEFAULT_PARTITIONS),
        )


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DevstackError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise DevstackError(f"{name} must be at least 1, got {value}")
    return value


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _positive(environ, name, default)
    if value > 65535:
        raise DevstackError(f"{name} must be a TCP port (1-65535), got {value}")
    return value
