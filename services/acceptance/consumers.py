"""Topic → handler: acceptance keeps its catalogue replica from the catalogue topic."""

from __future__ import annotations

from services.acceptance import handlers
from services.common.contracts.catalogue import ItemVersionPublished, ItemVersionRetired
from services.common.contracts.topics import Topic
from services.common.messaging import HandlerMap
from services.common.runtime import ConsumerSpec, Runtime


def _catalogue_handlers(_runtime: Runtime) -> HandlerMap:
    return {
        ItemVersionPublished.event_type: handlers.item_published,
        ItemVersionRetired.event_type: handlers.item_retired,
    }


CONSUMERS = [ConsumerSpec(group="catalogue", topics=[Topic.catalogue], handlers=_catalogue_handlers)]
