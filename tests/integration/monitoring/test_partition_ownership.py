"""A clock's timer lives on its subject's partition: the partition we compute is the one Kafka chose."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.common.contracts import Topic
from services.monitoring.supervision import subject_partition


@pytest.mark.kafka
def test_subject_partition_matches_the_producers_partitioner(service_env: Any) -> None:
    topic = Topic.case.name_with(os.environ["ZWFW_TOPIC_PREFIX"])
    keys = [f"320102-20261125-{i:05d}" for i in range(60)]

    async def send() -> dict[str, int]:
        producer = AIOKafkaProducer(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        await producer.start()
        try:
            partitions = len(await producer.partitions_for(topic))
            placed = {key: (await producer.send_and_wait(topic, b"{}", key=key.encode())).partition for key in keys}
        finally:
            await producer.stop()
        assert partitions == 6
        return placed

    placed = asyncio.run(send())
    assert len(set(placed.values())) > 1  # the keys spread, so the check below means something
    assert placed == {key: subject_partition(key, 6) for key in keys}
