"""The Kafka broker: collected once from Maven Central, formatted once, run as a single-node KRaft process."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from string import Template

from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.paths import KAFKA_DEPLOY_DIR
from flowmatic_devstack.probes import tcp_probe
from flowmatic_devstack.process import ProcessSpec

KAFKA_VERSION = "4.1.1"
# C1 only: the broker starts ~1 s sooner on a busy 2-core machine, and a local broker never runs hot enough for C2.
JVM_OPTIONS = ("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
COMPLETE_MARKER = ".complete"
# The full plugin coordinates: resolving the `dependency:` prefix offline fails with a misleading message.
COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
_NETWORK_CAUSES = ("Connect to", "UnknownHost", "Network is unreachable", "Connection refused", "timed out")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_HELP_SUFFIX = re.compile(r"\s*->\s*\[Help \d+\]$")


def kafka_libs_dir(cache_dir: Path) -> Path:
    """Where the broker's jars are collected."""
    return cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def require_tool(name: str, install_hint: str) -> str:
    """The path of a program on PATH, or a one-line error saying how to get it."""
    path = shutil.which(name)
    if path is None:
        raise DevstackError(f"{name} not found on PATH: {install_hint}")
    return path


def ensure_kafka_libs(cache_dir: Path) -> Path:
    """Collect the broker's jars with Maven unless a previous run completed (marked by a file written last)."""
    libs = kafka_libs_dir(cache_dir)
    marker = libs.parent / COMPLETE_MARKER
    if marker.exists():
        return libs
    require_tool("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
    mvn = require_tool("mvn", "install Maven (apt-get install maven) to fetch Kafka from Maven Central")
    if libs.exists():
        shutil.rmtree(libs)  # an interrupted earlier fetch: start over rather than trust a partial folder
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(KAFKA_DEPLOY_DIR / "pom.xml"),
            COPY_DEPENDENCIES,
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevstackError(_maven_failure(result.stdout + result.stderr))
    marker.write_text(f"kafka {KAFKA_VERSION}\n")
    return libs


def _maven_failure(output: str) -> str:
    """One line out of Maven's error report: the network cause when it could not reach Maven Central."""
    plain = _ANSI_ESCAPE.sub("", output)
    errors = [line.removeprefix("[ERROR]").strip() for line in plain.splitlines() if line.startswith("[ERROR]")]
    first = next((line for line in errors if line), plain.strip().splitlines()[-1] if plain.strip() else "")
    first = _HELP_SUFFIX.sub("", first)
    if "Could not transfer" in first or any(hint in first for hint in _NETWORK_CAUSES):
        causes = [first.find(hint) for hint in _NETWORK_CAUSES if hint in first]
        cause = first[min(causes) :] if causes else first
        return f"cannot download Kafka {KAFKA_VERSION} from Maven Central (is it reachable?): {cause}"
    return f"mvn failed to collect Kafka {KAFKA_VERSION}: {first}"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def render_broker_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """The broker's server.properties from the template in deploy/kafka/."""
    template = Template((KAFKA_DEPLOY_DIR / "server.properties.template").read_text())
    return template.substitute(data_dir=data_dir, port=port, controller_port=controller_port)


def _java_command(libs: Path, main_class: str, *args: str) -> list[str]:
    java = require_tool("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
    return [
        java,
        *JVM_OPTIONS,
        "-cp",
        f"{libs}{os.sep}*",
        f"-Dlog4j2.configurationFile={KAFKA_DEPLOY_DIR / 'log4j2.properties'}",
        main_class,
        *args,
    ]


def _write_properties(kafka_dir: Path, port: int, controller_port: int) -> tuple[Path, bool]:
    """Render server.properties (ports may differ from the last run); says whether the log folder is new."""
    data_dir = kafka_dir / "data"
    properties = kafka_dir / "server.properties"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    properties.write_text(render_broker_properties(data_dir, port, controller_port))
    return properties, not (data_dir / "meta.properties").exists()


async def prepare_broker(
    libs: Path, kafka_dir: Path, log_path: Path, port: int, controller_port: int, name: str = "kafka"
) -> ProcessSpec:
    """Write the properties and format the log folder if it is new; returns how to run the broker."""
    properties, is_new = _write_properties(kafka_dir, port, controller_port)
    if is_new:
        format_command = _java_command(
            libs, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(properties)
        )
        result = await asyncio.to_thread(subprocess.run, format_command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DevstackError(f"formatting the Kafka log folder failed: {(result.stderr or result.stdout).strip()}")
    return ProcessSpec(
        name=name,
        argv=_java_command(libs, "kafka.Kafka", str(properties)),
        log_path=log_path,
        readiness=tcp_probe("127.0.0.1", port),
        endpoint=f"tcp://127.0.0.1:{port}",
        cwd=kafka_dir,
    )
