"""Reading the stack's configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowmatic_devstack.config import StackConfig
from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.paths import REPO_ROOT


def test_defaults_match_the_documented_ports_and_folders() -> None:
    config = StackConfig.from_environ({}, Path("/somewhere"))

    assert config.state_dir == Path("/somewhere/.state")
    assert config.cache_dir == REPO_ROOT / ".cache"
    assert (config.kafka_port, config.kafka_controller_port, config.postgres_port) == (9092, 9093, 5433)
    assert dict(config.service_ports) == {"gateway": 8080, "query": 8081, "orchestrator": 8082, "executor": 8083}
    assert config.public_url == "http://127.0.0.1:8080"
    assert config.query_url == "http://127.0.0.1:8081"
    assert (config.topic_prefix, config.partitions) == ("flowmatic.", 4)
    assert config.external_kafka is None
    assert config.external_database is None


def test_environment_overrides_every_port_and_folder() -> None:
    environ = {
        "FLOWMATIC_STATE_DIR": "st",
        "FLOWMATIC_CACHE_DIR": "/cache",
        "FLOWMATIC_KAFKA_PORT": "19192",
        "FLOWMATIC_KAFKA_CONTROLLER_PORT": "19193",
        "FLOWMATIC_POSTGRES_PORT": "15433",
        "FLOWMATIC_GATEWAY_PORT": "9080",
        "FLOWMATIC_QUERY_PORT": "9081",
        "KAFKA_BOOTSTRAP_SERVERS": "10.0.0.1:9092",
        "DATABASE_URL": "postgresql://db/x",
        "FLOWMATIC_TOPIC_PREFIX": "p.",
        "FLOWMATIC_PARTITIONS": "8",
    }

    config = StackConfig.from_environ(environ, Path("/w"))

    assert config.state_dir == Path("/w/st")
    assert config.cache_dir == Path("/cache")
    assert (config.kafka_port, config.kafka_controller_port, config.postgres_port) == (19192, 19193, 15433)
    assert config.service_ports["gateway"] == 9080
    assert config.service_ports["orchestrator"] == 8082
    assert config.public_url == "http://127.0.0.1:9080"
    assert config.query_url == "http://127.0.0.1:9081"
    assert config.external_kafka == "10.0.0.1:9092"
    assert config.external_database == "postgresql://db/x"
    assert (config.topic_prefix, config.partitions) == ("p.", 8)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FLOWMATIC_KAFKA_PORT", "ninety", "FLOWMATIC_KAFKA_PORT must be a whole number, got 'ninety'"),
        ("FLOWMATIC_GATEWAY_PORT", "70000", "FLOWMATIC_GATEWAY_PORT must be a TCP port (1-65535), got 70000"),
        ("FLOWMATIC_PARTITIONS", "0", "FLOWMATIC_PARTITIONS must be at least 1, got 0"),
    ],
)
def test_a_bad_value_is_a_one_line_error_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(DevstackError) as raised:
        StackConfig.from_environ({name: value}, Path("/w"))

    assert str(raised.value) == message
