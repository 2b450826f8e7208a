"""The broker's rendered configuration, its cluster id, and how Maven failures are explained."""

from __future__ import annotations

import base64
from pathlib import Path

from flowmatic_devstack.kafka import _maven_failure, new_cluster_id, render_broker_properties


def _properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_broker_properties_are_a_single_loopback_kraft_node() -> None:
    props = _properties(render_broker_properties(Path("/state/kafka/data"), 19192, 19193))

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19193"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19192"
    assert props["log.dirs"] == "/state/kafka/data"


def test_broker_properties_fit_one_broker_with_transactions() -> None:
    props = _properties(render_broker_properties(Path("/d"), 1, 2))

    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["offsets.topic.num.partitions"] == "4"
    assert props["transaction.state.log.num.partitions"] == "4"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["log.cleaner.dedupe.buffer.size"] == "2097152"
    assert props["auto.create.topics.enable"] == "false"


def test_cluster_id_is_sixteen_random_bytes_in_urlsafe_base64_without_padding() -> None:
    first, second = new_cluster_id(), new_cluster_id()

    assert first != second
    assert len(first) == 22
    assert "=" not in first
    assert len(base64.urlsafe_b64decode(first + "==")) == 16


def test_an_unreachable_maven_central_is_named_as_such() -> None:
    output = (
        "\x1b[0m\x1b[0m[ERROR] Plugin org.apache.maven.plugins:maven-dependency-plugin:3.8.1 or one of its "
        "dependencies could not be resolved: Could not transfer artifact org.apache.maven.plugins:"
        "maven-dependency-plugin:pom:3.8.1 from/to central (https://repo.maven.apache.org/maven2): transfer "
        "failed for https://repo.maven.apache.org/maven2/x.pom: Connect to repo.maven.apache.org:443 "
        "[repo.maven.apache.org/1.2.3.4] failed: Connection refused -> [Help 1]\n[ERROR] \n"
    )

    message = _maven_failure(output)

    assert message == (
        "cannot download Kafka 4.1.1 from Maven Central (is it reachable?): "
        "Connect to repo.maven.apache.org:443 [repo.maven.apache.org/1.2.3.4] failed: Connection refused"
    )


def test_another_maven_failure_shows_its_first_error_line() -> None:
    message = _maven_failure("[INFO] x\n[ERROR] The goal you specified requires a project\n[ERROR] second\n")

    assert message == "mvn failed to collect Kafka 4.1.1: The goal you specified requires a project"
