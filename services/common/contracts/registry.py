"""Every event type this build knows, and the one way to turn an envelope into its payload."""

from __future__ import annotations

import inspect

from pydantic import ValidationError

from services.common.contracts import case, catalogue, complaint, disclosure, evaluation, supervision
from services.common.contracts.envelope import Envelope, MalformedEvent, UnknownEventType
from services.common.contracts.payloads import EventPayload


def _collect() -> dict[str, type[EventPayload]]:
    found: dict[str, type[EventPayload]] = {}
    for module in (catalogue, case, disclosure, complaint, evaluation, supervision):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, EventPayload) and "event_type" in cls.__dict__:
                found[cls.event_type] = cls
    return found


REGISTRY: dict[str, type[EventPayload]] = _collect()


def parse_payload(envelope: Envelope) -> EventPayload:
    model = REGISTRY.get(envelope.type)
    if model is None:
        raise UnknownEventType(envelope.type)
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        # Without the input values: payloads carry personal data, and this text reaches logs and dead letters.
        errors = exc.errors(include_url=False, include_input=False)
        raise MalformedEvent(f"{envelope.type} does not match its contract: {errors}") from exc
