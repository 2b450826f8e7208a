"""Creates every platform topic explicitly, with the partitions and retention the design needs."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from flowmatic_contracts.topics import Topics, topic_layouts
from flowmatic_devstack.errors import DevstackError

TOPIC_ALREADY_EXISTS = 36


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
