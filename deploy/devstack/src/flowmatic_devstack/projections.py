"""`flowmatic projections rebuild`: runs the query service's rebuild against this stack's broker and database.

The work is the query service's (`python -m flowmatic_query rebuild`, see its `entrypoints/rebuild.py`); this
module only points it at the stack `flowmatic up` runs (or at KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set),
and lets its progress bar through to the terminal.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence

from flowmatic_devstack.config import DATABASE_NAME, StackConfig
from flowmatic_devstack.postgres import server_dsn, with_database


def rebuild_environment(config: StackConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the rebuild: the stack's broker, database and topic prefix."""
    return {
        **environ,
        "KAFKA_BOOTSTRAP_SERVERS": config.external_kafka or f"127.0.0.1:{config.kafka_port}",
        "DATABASE_URL": config.external_database or with_database(server_dsn(config.postgres_port), DATABASE_NAME),
        "FLOWMATIC_TOPIC_PREFIX": config.topic_prefix,
    }


def rebuild_command(config: StackConfig, environ: Mapping[str, str], arguments: Sequence[str] = ()) -> list[str]:
    """The command line of the rebuild."""
    return [sys.executable, "-m", "flowmatic_query", "rebuild", *arguments]


def rebuild(config: StackConfig, environ: Mapping[str, str], arguments: Sequence[str] = ()) -> int:
    """Run the rebuild in the foreground; its exit code is the command's."""
    return subprocess.call(rebuild_command(config, environ, arguments), env=rebuild_environment(config, environ))
