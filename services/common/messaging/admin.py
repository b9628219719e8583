"""Creates the platform's topics (and their dead-letter twins) with the partitions we mean."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.contracts.topics import all_topic_names


async def ensure_topics(bootstrap_servers: str, prefix: str = "") -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = all_topic_names(prefix)
        new = [
            NewTopic(name, num_partitions=partitions, replication_factor=1,
                     topic_configs={"cleanup.policy": "compact"} if compacted else {})
            for name, (partitions, compacted) in wanted.items()
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                await admin.create_topics(new)
        return sorted(wanted)
    finally:
        await admin.close()
