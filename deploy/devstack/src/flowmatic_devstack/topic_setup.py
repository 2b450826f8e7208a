"""Creates every platform topic explicitly, with the partitions and retention the design needs."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from flowmatic_contracts.topics import Topics, topic_layouts
from flowmatic_devstack.errors import DevstackError

TOPIC_ALREADY_EXISTS = 36
log = logging.getLogger(__name__)


async def ensure_topics(bootstrap: str, topics: Topics, partitions: int) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        await admin.start()
        response = await admin.create_topics(
            [
                NewTopic(layout.name, layout.partitions, 1, topic_configs=layout.configs)
                for layout in topic_layouts(topics, partitions)
            ]
        )
    except KafkaError as error:
        raise DevstackError(f"cannot create topics on the broker at {bootstrap}: {error}") from None
    finally:
        await admin.close()
    failures = [
        f"{topic}: {message or code}"
        for topic, code, message in response.topic_errors
        if code not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise DevstackError("creating topics failed: " + "; ".join(failures))


async def delete_topics(bootstrap: str, topics: Topics) -> None:
    """Delete every topic of a (test) prefix; best effort.

    A test session creates a fresh topic set per test: without this, a long session leaves thousands of
    partitions on one broker, each holding open files (a shared development broker died of `Too many open files`
    at about 20,000 partition folders).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        await admin.start()
        await admin.delete_topics([layout.name for layout in topic_layouts(topics, 1)])
    except KafkaError as error:
        log.warning("could not delete the topics of %s: %s", topics.prefix, error)
    finally:
        await admin.close()
