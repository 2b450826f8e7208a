"""How each of the four services is run: `python -m flowmatic_<service>` with its configuration in the environment."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flowmatic_devstack.probes import http_probe
from flowmatic_devstack.process import ProcessSpec

# Set by the stack for each service; a value inherited from the caller's environment must not leak through.
_OWNED = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "FLOWMATIC_ADMIN_API_KEY", "FLOWMATIC_ADMIN_API_KEY_SHA256")


@dataclass(frozen=True)
class ServiceEnvironment:
    """What every service of one stack is told."""

    kafka_bootstrap: str
    database_url: str
    topic_prefix: str
    partitions: int
    public_url: str
    query_url: str
    ports: Mapping[str, int]
    """Each service's first instance's port, by service name."""
    admin_key_env: Mapping[str, str]
    secret_key: str
    extra: Mapping[str, str] = field(default_factory=dict)
    """Anything else (FLOWMATIC_HTTP_ALLOW_PRIVATE_NETWORKS, ...), over the inherited environment."""


def instance_name(service: str, instance: int) -> str:
    """`gateway` for the first instance, `gateway-1` for the second, ..."""
    return service if instance == 0 else f"{service}-{instance}"


def service_env(
    service: str, instance: int, port: int, settings: ServiceEnvironment, inherited: Mapping[str, str]
) -> dict[str, str]:
    """The full environment of one service instance (inherited FLOWMATIC_* variables pass through)."""
    env = {name: value for name, value in inherited.items() if name not in _OWNED}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            "DATABASE_URL": settings.database_url,
            "FLOWMATIC_TOPIC_PREFIX": settings.topic_prefix,
            "FLOWMATIC_PARTITIONS": str(settings.partitions),
            "FLOWMATIC_PUBLIC_URL": settings.public_url,
            "FLOWMATIC_QUERY_URL": settings.query_url,
            "FLOWMATIC_SECRET_KEY": settings.secret_key,
            "FLOWMATIC_INSTANCE_ID": str(instance),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"FLOWMATIC_{name.upper()}_PORT": str(value) for name, value in settings.ports.items()})
    env[f"FLOWMATIC_{service.upper()}_PORT"] = str(port)
    env.update(settings.admin_key_env)
    env.update(settings.extra)
    return env


def service_spec(
    service: str,
    instance: int,
    port: int,
    settings: ServiceEnvironment,
    logs_dir: Path,
    inherited: Mapping[str, str],
) -> ProcessSpec:
    """How to run one instance of `service`, listening on `port`, ready when its /readyz answers 200."""
    name = instance_name(service, instance)
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-m", f"flowmatic_{service}"],
        env=service_env(service, instance, port, settings, inherited),
        log_path=logs_dir / f"{name}.log",
        readiness=http_probe(f"http://127.0.0.1:{port}/readyz"),
        endpoint=f"http://127.0.0.1:{port}/readyz",
    )
