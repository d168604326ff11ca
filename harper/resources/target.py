# -*- test-case-name: tests.resources.test_table_resource -*-
"""
What a resource call addresses: a record id, a collection (with a query), or the resource.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from harper.database.conditions import Query


@attr.frozen
class RequestTarget:
    """
    The target of a resource call.

    :ivar id: the record id (already coerced to the key type), or C{None}.
    :ivar is_collection: C{True} for C{/Table/} and C{/Table/?query} (and C{/Table/<prefix>/}).
    :ivar query: conditions, selection, sort and paging for collections.
    :ivar attribute: a single declared attribute requested with C{/Table/<id>.<attribute>}.
    :ivar path: the path below the resource, as requested.
    """

    id: Any = None
    is_collection: bool = False
    query: Query = attr.field(factory=Query)
    attribute: Optional[str] = None
    path: str = ""

    @classmethod
    def record(cls, id: Any) -> "RequestTarget":
        """
        The target naming one record.
        """
        return cls(id=id, path=str(id))

    @classmethod
    def collection(cls, query: Optional[Query] = None) -> "RequestTarget":
        """
        The target naming the collection, optionally narrowed by C{query}.
        """
        return cls(is_collection=True, query=query or Query())
