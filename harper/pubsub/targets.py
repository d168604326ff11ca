# -*- test-case-name: tests.websocket.test_resource -*-
"""
Real-time paths to resource targets: what part of a resource a topic (C{Dog/1}) or a
WebSocket or event-stream path (C{/Dog/1}, C{/Dog/}) names.
"""

from __future__ import annotations

from typing import Any, Optional

from harper.resources.target import RequestTarget
from harper.schema.validate import coerce_key


def target_for(resource: Any, remainder: Optional[str]) -> RequestTarget:
    """
    The target below C{resource} that C{remainder} (from
    L{harper.resources.registry.ResourceRegistry.resolve}) names: the resource itself
    (C{None}), its collection (C{""}) or one record, whose id is converted to the table's key
    type.

    :raises harper.errors.InvalidInput: the id is not valid for the key type.
    """
    if remainder is None:
        return RequestTarget()
    if remainder == "":
        return RequestTarget.collection()
    definition = getattr(resource, "definition", None)
    key = coerce_key(remainder, definition) if definition is not None else remainder
    return RequestTarget(id=key, path=remainder)

