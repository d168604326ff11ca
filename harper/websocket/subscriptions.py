# -*- test-case-name: tests.websocket.test_resource -*-
"""
Opening a resource subscription for a WebSocket or an event stream: resolve the path, check
that the user may read, call the resource's C{connect}, and send the current record first.

Events reach the client as plain mappings (L{event_record}): C{{type, id, value, version}}
for table changes, the value itself for anything a custom resource sends.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from harper.database.events import MESSAGE, PUT, ChangeEvent
from harper.errors import InvalidInput, NotFound
from harper.pubsub.targets import target_for
from harper.resources.context import RequestContext
from harper.resources.subscription import options_from_query
from harper.resources.target import RequestTarget

Deliver = Callable[[Any], None]


def event_record(event: Any) -> Any:
    """
    What a client receives for C{event}.
    """
    if isinstance(event, ChangeEvent):
        return {"type": event.type, "id": event.id, "value": event.value, "version": event.timestamp}
    return event


class Subscriptions:
    """
    Opens subscriptions to the resources of a registry.

    :param registry: the exported resources.
    :param caller: runs resource methods in transactions (to read the current record).
    """

    _log = Logger()

    def __init__(self, registry: Any, caller: Any) -> None:
        self._registry = registry
        self._caller = caller

    def open(self, path: str, query: str, user: Any, headers: Mapping[str, str], deliver: Deliver) -> Deferred:
        """
        Subscribe C{deliver} to the resource at C{path} (C{/Dog/1} a record, C{/Dog/1/} the
        records below it, C{/Dog/} the table), with the options of the query string
        (L{options_from_query}: C{startTime}, C{previousCount}, C{omitCurrent},
        C{includeDescendants}); unless the query has C{omitCurrent} or asks for history, a
        record's current value is delivered first. Fires with the subscription (with a
        C{close()} method).

        :raises NotFound: no resource is exported at C{path} (as a failed Deferred, like
            the other errors).
        :raises harper.errors.Unauthorized: nobody is logged in and the resource is a table.
        :raises harper.errors.Forbidden: the user may not read the table.
        """
        return maybeDeferred(self._open, path, query, user, headers, deliver)

    def _open(self, path: str, query: str, user: Any, headers: Mapping[str, str], deliver: Deliver) -> Any:
        relative = path.lstrip("/")
        if not relative:
            raise NotFound("no resource was found at /: subscribe to a resource path such as /Dog/")
        try:
            resource, remainder = self._registry.resolve(relative)
        except NotFound:
            raise NotFound(f"no resource was found at /{relative}") from None
        if remainder and remainder.endswith("/"):
            # /Dog/a/: the records whose id starts with "a/".
            target = RequestTarget(is_collection=True, path=remainder)
        else:
            target = target_for(resource, remainder)
        options = options_from_query(query)
        context = RequestContext(
            user=user, headers=dict(headers), subscription=options, check_permission=True
        )
        if target.id is None or options.omit_current or options.replays or not hasattr(resource, "table"):
            return self._caller.open("connect", resource, target, context, deliver)
        # The current record is read after the subscription starts, so a change can reach the
        # listener before it or after it (an event relayed late from another worker): the
        # newest version delivered so far decides, and older states of the record are dropped.
        newest: list[Optional[float]] = [None]

        def in_order(event: ChangeEvent) -> None:
            if event.id == target.id and event.type != MESSAGE:
                if newest[0] is not None and event.timestamp <= newest[0]:
                    return
                newest[0] = event.timestamp
            deliver(event)

        subscription = self._caller.open("connect", resource, target, context, in_order)
        reading = RequestContext(user=user, check_permission=True)
        d = self._caller.call("get", resource, target, reading)

        def current(record: Any) -> Any:
            table = resource.table
            version = reading.last_modified
            if version is None:
                version = self._caller.runner.timestamp()
            in_order(ChangeEvent(table.database, table.name, target.id, PUT, record, version))
            return subscription

        def absent(failure: Any) -> Any:
            failure.trap(NotFound, InvalidInput)
            return subscription

        return d.addCallbacks(current, absent)
