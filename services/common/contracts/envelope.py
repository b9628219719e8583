"""The CloudEvents 1.0 envelope in Kafka binary mode (`ce_*` headers, JSON body), via the `cloudevents` SDK.

`recorded_at` is the CloudEvents `time` (when the system recorded the event); the payload carries
`occurred_at` (when it happened as the source says). The gap between them reveals back-filled records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from services.common.contracts.payloads import EventPayload


class _OrjsonFormat(JSONFormat):
    """The SDK's JSON format with orjson for the data: the standard library's encoder and decoder were most
    of an event's envelope cost on monitoring's ingest path. Our data is always a JSON object."""

    def write_data(self, data: dict[str, Any] | str | bytes | None, datacontenttype: str | None) -> bytes:
        if isinstance(data, dict):
            return orjson.dumps(data)
        return super().write_data(data, datacontenttype)

    def read_data(self, body: bytes, datacontenttype: str | None) -> dict[str, Any] | str | bytes | None:
        if body and self.JSON_CONTENT_TYPE_PATTERN.match(datacontenttype or self.DEFAULT_CONTENT_TYPE):
            try:
                parsed: dict[str, Any] = orjson.loads(body)
                return parsed
            except orjson.JSONDecodeError:
                pass  # the SDK's own reading decides what the body is
        return super().read_data(body, datacontenttype)


_FORMAT = _OrjsonFormat()
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


class MalformedEvent(ValueError):
    """The message is not a CloudEvent we can read, or its data does not match its type's contract."""


class UnknownEventType(LookupError):
    """A well-formed CloudEvent whose type this build does not know (a newer producer): parked, not dead."""


@dataclass(frozen=True)
class Envelope:
    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def wrap(cls, payload: EventPayload, source: str, recorded_at: datetime | None = None) -> Envelope:
        return cls(
            type=payload.event_type,
            source=source,
            subject=payload.subject(),
            data=payload.model_dump(mode="json"),
            recorded_at=recorded_at or datetime.now(UTC),
        )

    @property
    def key(self) -> str:
        """Kafka key: the subject's number, so one case's events stay in order on one partition."""
        return self.subject

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        event = CloudEvent(
            attributes={
                "id": self.id,
                "type": self.type,
                "source": self.source,
                "subject": self.subject,
                "time": self.recorded_at,
                "datacontenttype": "application/json",
                "specversion": "1.0",
            },
            data=self.data,
        )
        message = to_binary(event, _FORMAT, key_mapper=lambda _e: self.key)
        # A list, as aiokafka takes headers; the relay appends the message's traceparent to it.
        headers = list(message.headers.items())
        return self.key.encode(), message.value, headers

    @classmethod
    def from_kafka(cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | tuple) -> Envelope:
        ce_headers = {k: v for k, v in headers if k.startswith("ce_") or k == "content-type"}
        if "ce_type" not in ce_headers or "ce_id" not in ce_headers:
            raise MalformedEvent("missing CloudEvents headers (ce_id, ce_type)")
        # The time header is read here, not by the SDK: its dateutil parser cost more than the rest of the
        # envelope. RFC 3339 as CloudEvents writes it is what `fromisoformat` reads (Python 3.11+).
        time_header = ce_headers.pop("ce_time", None)
        try:
            recorded = datetime.fromisoformat(time_header.decode()) if time_header else datetime.now(UTC)
            if recorded.tzinfo is None:
                raise ValueError("ce_time has no UTC offset")
            event = from_binary(KafkaMessage(headers=ce_headers, key=key, value=value or b""), _FORMAT)
        except Exception as exc:  # the SDK raises several kinds for bad headers or bodies
            raise MalformedEvent(f"unreadable CloudEvent: {exc}") from exc
        data = event.get_data()
        if not isinstance(data, dict):
            raise MalformedEvent("event data is not a JSON object")
        return cls(
            type=event.get_type(),
            source=event.get_source(),
            subject=event.get_subject() or (key.decode() if key else ""),
            data=data,
            id=event.get_id(),
            recorded_at=recorded,
        )
