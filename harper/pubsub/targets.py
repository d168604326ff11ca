# -*- test-case-name: tests.websocket.test_resource -*-
"""
Real-time paths to resource targets: what part of a resource a topic (C{Dog/1}) or a
WebSocket or event-stream path (C{/Dog/1}, C{/Dog/}) names, and the read check every
subscription passes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from harper.auth.permissions import check
from harper.resources.target import RequestTarget
from harper.schema.validate import coerce_key

#: C{authorize(user, verb, database, table)}: whether C{user} may C{verb} the table's records.
Authorize = Callable[[Any, str, str, str], bool]


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


def check_read(user: Any, resource: Any) -> None:
    """
    Raise unless C{user} may read the table behind C{resource}; custom resources check their
    callers themselves.

    :raises harper.errors.Unauthorized: nobody is logged in.
    :raises harper.errors.Forbidden: the user's role does not grant reading the table.
    """
    table = getattr(resource, "table", None)
    if table is not None and hasattr(resource, "definition"):
        check(user, "read", table.database, table.name)
