"""Delivery that loses nothing: emit into an outbox in the caller's transaction, relay to Kafka,
listen with an inbox that drops redelivered events, and park or dead-letter what cannot be applied."""

from services.common.messaging.consumer import EventConsumer, HandlerMap, PermanentEventError
from services.common.messaging.outbox import Outbox
from services.common.messaging.relay import OutboxRelay
from services.common.messaging.tables import MessagingTables

__all__ = ["EventConsumer", "HandlerMap", "MessagingTables", "Outbox", "OutboxRelay", "PermanentEventError"]
