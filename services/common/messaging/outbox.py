"""Emit an event in the caller's database transaction (transactional outbox)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, sessionmaker

from services.common.contracts.envelope import Envelope
from services.common.contracts.payloads import EventPayload
from services.common.messaging.tables import MessagingTables
from services.common.telemetry import current_traceparent

_PENDING = "zwfw_outbox_pending"


class Outbox:
    """`emit` writes the event row beside the state change; the relay is woken after commit."""

    def __init__(self, tables: MessagingTables, source: str, topic_prefix: str) -> None:
        self.tables = tables
        self.source = source
        self.topic_prefix = topic_prefix
        self._listeners: list[Any] = []

    def emit(self, session: Session, payload: EventPayload, recorded_at: datetime | None = None) -> Envelope:
        return self.emit_many(session, [payload], recorded_at)[0]

    def emit_many(self, session: Session, payloads: list[EventPayload],
                  recorded_at: datetime | None = None) -> list[Envelope]:
        """Several events in one statement (a burst of alerts); their order is the outbox order."""
        if not payloads:
            return []
        # Stored so the relay publishes under the trace of the request that caused the events.
        traceparent, created_at = current_traceparent(), datetime.now(UTC)
        envelopes, rows = [], []
        for payload in payloads:
            envelope = Envelope.wrap(payload, source=self.source, recorded_at=recorded_at)
            key, value, headers = envelope.to_kafka()
            envelopes.append(envelope)
            rows.append(dict(
                event_id=envelope.id, topic=payload.topic.name_with(self.topic_prefix), key=key.decode(),
                event_type=envelope.type, headers=[[k, v.decode()] for k, v in headers], payload=value,
                traceparent=traceparent, created_at=created_at,
            ))
        session.execute(insert(self.tables.outbox), rows)
        session.info[_PENDING] = True
        return envelopes

    def on_commit(self, session_factory: sessionmaker[Any], callback: Any) -> None:
        """Calls `callback()` after each commit that wrote outbox rows (in the committing thread)."""

        def _after_commit(session: Session) -> None:
            if session.info.pop(_PENDING, False):
                callback()

        def _after_rollback(session: Session) -> None:
            session.info.pop(_PENDING, None)

        event.listen(session_factory, "after_commit", _after_commit)
        event.listen(session_factory, "after_soft_rollback", lambda s, _t: _after_rollback(s))
