"""What each service process is told through its environment."""

from __future__ import annotations

import sys
from pathlib import Path

from flowmatic_devstack.services import ServiceEnvironment, service_spec

SETTINGS = ServiceEnvironment(
    kafka_bootstrap="127.0.0.1:1",
    database_url="postgresql://postgres@127.0.0.1:2/flowmatic",
    topic_prefix="p.",
    partitions=4,
    public_url="http://127.0.0.1:8080",
    query_url="http://127.0.0.1:8081",
    ports={"gateway": 8080, "query": 8081, "orchestrator": 8082, "executor": 8083},
    admin_key_env={"FLOWMATIC_ADMIN_API_KEY_SHA256": "ab" * 32},
    secret_key="secret",
)


def test_a_service_gets_the_stack_settings_and_inherits_other_flowmatic_variables() -> None:
    inherited = {
        "PATH": "/bin",
        "FLOWMATIC_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        "FLOWMATIC_SOMETHING_NEW": "x",
        "FLOWMATIC_ADMIN_API_KEY": "must-not-leak",
        "DATABASE_URL": "postgresql://elsewhere/db",
    }

    spec = service_spec("query", 0, 8081, SETTINGS, Path("/logs"), inherited)

    env = dict(spec.env or {})
    assert spec.name == "query"
    assert list(spec.argv) == [sys.executable, "-m", "flowmatic_query"]
    assert spec.log_path == Path("/logs/query.log")
    assert spec.endpoint == "http://127.0.0.1:8081/readyz"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"
    assert env["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:2/flowmatic"
    assert env["FLOWMATIC_TOPIC_PREFIX"] == "p."
    assert env["FLOWMATIC_PUBLIC_URL"] == "http://127.0.0.1:8080"
    assert env["FLOWMATIC_QUERY_URL"] == "http://127.0.0.1:8081"
    assert env["FLOWMATIC_SECRET_KEY"] == "secret"
    assert env["FLOWMATIC_INSTANCE_ID"] == "0"
    assert env["FLOWMATIC_ADMIN_API_KEY_SHA256"] == "ab" * 32
    assert "FLOWMATIC_ADMIN_API_KEY" not in env
    assert env["FLOWMATIC_HTTP_ALLOW_PRIVATE_NETWORKS"] == "true"
    assert env["FLOWMATIC_SOMETHING_NEW"] == "x"
    assert env["PATH"] == "/bin"
    assert [env[f"FLOWMATIC_{s}_PORT"] for s in ("GATEWAY", "QUERY", "ORCHESTRATOR", "EXECUTOR")] == [
        "8080",
        "8081",
        "8082",
        "8083",
    ]


def test_a_second_instance_has_its_own_name_id_port_and_log() -> None:
    spec = service_spec("orchestrator", 1, 9182, SETTINGS, Path("/logs"), {})

    env = dict(spec.env or {})
    assert spec.name == "orchestrator-1"
    assert env["FLOWMATIC_INSTANCE_ID"] == "1"
    assert env["FLOWMATIC_ORCHESTRATOR_PORT"] == "9182"
    assert spec.log_path == Path("/logs/orchestrator-1.log")
    assert spec.endpoint == "http://127.0.0.1:9182/readyz"
