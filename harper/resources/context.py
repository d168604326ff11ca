# -*- test-case-name: tests.resources.test_table_resource -*-
"""
The request context passed explicitly to every resource call.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import attr
from zope.interface import implementer

from harper.interfaces import IRequestContext
from harper.resources.freshness import NO_DIRECTIVES, CacheDirectives


@implementer(IRequestContext)
@attr.define
class RequestContext:
    """
    Who is calling, with what headers, in which transaction.

    :ivar user: the authenticated user (or C{None} for internal calls).
    :ivar headers: request headers (lower-case names).
    :ivar transaction: the L{harper.database.transaction.Transaction} of the call; set by the
        caller that opens the transaction.
    :ivar response_headers: headers a resource wants to add to the response.
    :ivar expires_at: epoch ms a caching source sets to give the record it returns its own
        expiry.
    :ivar loaded_from_source: set when a caching table had to call its source.
    :ivar tables: the L{harper.resources.tables.Tables} namespace, for calls to other tables.
    :ivar streaming: the answer is streamed as it is read: records a query loads are let go
        once used, so a very large collection needs flat memory.
    :ivar last_modified: the version (epoch ms of the last write) of the record the call
        read, set by table reads; transports derive C{ETag} and C{Last-Modified} from it.
    :ivar cache_control: the client's cache directives (C{Cache-Control}), honoured by
        caching tables (L{harper.resources.freshness}).
    """

    user: Any = None
    headers: Mapping[str, str] = attr.field(factory=dict)
    transaction: Any = None
    response_headers: dict[str, str] = attr.field(factory=dict)
    expires_at: Optional[float] = None
    loaded_from_source: bool = False
    tables: Any = None
    last_modified: Optional[float] = None
    cache_control: CacheDirectives = NO_DIRECTIVES
    streaming: bool = False

    @property
    def username(self) -> Optional[str]:
        """
        The calling user's name, if any.
        """
        return getattr(self.user, "username", None)
