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
from harper.resources.subscription import NO_OPTIONS, SubscriptionOptions


@implementer(IRequestContext)
@attr.define
class RequestContext:
    """
    Who is calling, with what headers, in which transaction.

    :ivar user: the authenticated user (or C{None}: nobody logged in).
    :ivar check_permission: whether calls made through
        L{harper.resources.calls.ResourceCaller} ask the resource's C{allow_*} methods
        first and table reads hide the attributes the user's role may not read; every
        transport turns it on for its callers, code calling tables (C{tables.Dog.get(1)})
        leaves it off (Harper's C{target.checkPermission}).
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
    :ivar subscription: the options of a C{subscribe} or C{connect} call (history replay,
        current value, descendants).
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
    subscription: SubscriptionOptions = NO_OPTIONS
    check_permission: bool = False

    @property
    def username(self) -> Optional[str]:
        """
        The calling user's name, if any.
        """
        return getattr(self.user, "username", None)
