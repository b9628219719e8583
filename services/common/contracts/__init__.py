"""Event contracts: the CloudEvents envelope, topic names and one payload module per producing domain.

Payloads are pydantic models that ignore fields they do not know, so a producer can add a field
without breaking an older consumer. A breaking change is a new type version (`...v2`).
"""

from services.common.contracts.envelope import Envelope, MalformedEvent, UnknownEventType
from services.common.contracts.registry import REGISTRY, parse_payload
from services.common.contracts.topics import Topic

__all__ = ["REGISTRY", "Envelope", "MalformedEvent", "Topic", "UnknownEventType", "parse_payload"]
