# -*- test-case-name: tests.mqtt.test_end_to_end -*-
"""
Topics that are resources: C{Dog/1} is record 1 of the resource exported as C{Dog}, C{Dog/#}
and C{Dog/+} its collection.

A retained PUBLISH to such a topic is a C{put} of the record (an empty payload a C{delete}), a
PUBLISH without retain is a C{publish()}: both go through the Resource API in a transaction,
with the publishing user's permissions. Committed changes come back from the change feed as
messages on the record's topic, and a new subscription first gets the current records as
retained messages.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import attr
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from harper.database.events import DELETE, MESSAGE, ChangeEvent
from harper.errors import Forbidden, HarperError, InvalidInput, NotFound, Unauthorized
from harper.mqtt.echoes import Echoes
from harper.mqtt.message import Message
from harper.mqtt.reasons import SUCCESS, Outcome, outcome_for, payload_invalid
from harper.pubsub.payloads import decode_payload
from harper.pubsub.targets import target_for
from harper.resources.calls import authorize
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

@attr.frozen
class TopicTarget:
    """
    A topic resolved to a resource.

    :ivar resource: the resource.
    :ivar target: the part of it the topic names.
    :ivar path: the resource's export path (the topic's first levels).
    """

    resource: Any
    target: RequestTarget
    path: str

    @property
    def table(self) -> Optional[Any]:
        """
        The table behind the resource, or C{None} for a custom resource.
        """
        return getattr(self.resource, "table", None)


class ResourceTopics:
    """
    The resources of a registry, seen as MQTT topics.

    :param registry: the exported resources.
    :param caller: runs resource methods in transactions, after checking the permission
        of the session's user (anonymous users, C{None}, get no access to tables).
    """

    _log = Logger()

    def __init__(self, registry: Any, caller: Any) -> None:
        self._registry = registry
        self._caller = caller
        self._paths: dict[tuple[str, str], str] = {}
        self._echoes = Echoes()
        self.refresh()

    def refresh(self) -> None:
        """
        Learn the export path of each table (after the registry changed).
        """
        self._paths = {
            (resource.table.database, resource.table.name): path
            for path, resource in self._registry.items()
            if path and hasattr(resource, "table") and hasattr(resource, "definition")
        }

    def resolve(self, topic: str) -> Optional[TopicTarget]:
        """
        The resource C{topic} names, or C{None} for a plain topic.

        :raises InvalidInput: the topic names a record with an id of the wrong type.
        """
        if topic.startswith("$"):
            return None
        try:
            resource, remainder = self._registry.resolve(topic)
        except NotFound:
            return None
        path = topic if remainder is None else topic[:len(topic) - len(remainder) - 1]
        if not path:
            return None
        return TopicTarget(resource, target_for(resource, remainder), path)

    def _permits(self, user: Any, method: str, resource: Any, target: RequestTarget) -> bool:
        try:
            authorize(method, resource, target, RequestContext(user=user, check_permission=True))
        except (Unauthorized, Forbidden):
            return False
        return True

    # -- publishing ------------------------------------------------------------------------

    def publish(self, user: Any, found: TopicTarget, message: Message,
                content_type: Optional[str]) -> Deferred:
        """
        Write C{message} to the resource: C{put} (retained), C{delete} (retained, empty
        payload) or C{publish}; the Deferred fires with the L{Outcome} after the commit.
        """
        payload = message.payload()
        if message.retain:
            method = "put" if payload else "delete"
        else:
            method = "publish"
        args: tuple[Any, ...] = ()
        if method != "delete":
            try:
                args = (decode_payload(payload, message.properties.content_type or content_type),)
            except InvalidInput as error:
                return succeed(payload_invalid(error.message))
        context = RequestContext(user=user, check_permission=True)
        if message.sender is None:
            d = self._caller.call(method, found.resource, found.target, context, *args)
        else:
            inside, done = self._echoes.tracking(context, message.sender, message.topic)
            d = self._caller.call(method, found.resource, found.target, context, *args, inside=inside)
            d.addBoth(done)
        return d.addCallbacks(lambda _: SUCCESS, self._refused)

    def _refused(self, failure: Any) -> Outcome:
        if not failure.check(HarperError):
            self._log.failure("a resource write from MQTT failed", failure)
        return outcome_for(failure.value)

    # -- subscribing -----------------------------------------------------------------------

    def may_subscribe(self, user: Any, topic_filter: str) -> bool:
        """
        Whether C{user} may subscribe to C{topic_filter}: the read permission on the table its
        first levels name, if they name one.
        """
        found = self._resolve_prefix(topic_filter)
        return found is None or self._permits(user, "subscribe", found.resource, found.target)

    def _resolve_prefix(self, topic_filter: str) -> Optional[TopicTarget]:
        levels = topic_filter.split("/")
        fixed = []
        for level in levels:
            if level in ("+", "#"):
                break
            fixed.append(level)
        if not fixed:
            return None
        try:
            return self.resolve("/".join(fixed))
        except InvalidInput:
            return None

    def subscribe_custom(self, user: Any, topic_filter: str,
                         deliver: Callable[[Message], None]) -> Optional[Any]:
        """
        Subscribe to a custom resource that implements C{subscribe} when C{topic_filter}
        names one (C{Feed/1}, or C{Feed/#} for the whole resource): its events arrive as
        messages on the filter's topic (the resource's path for wildcard filters).

        :return: the resource's subscription (with C{close()}), or C{None} when the filter
            names no such resource.
        """
        found = self._resolve_prefix(topic_filter)
        if found is None or found.table is not None or not _subscribes(found.resource):
            return None
        topic = topic_filter if found.target.id is not None else found.path
        target = found.target if found.target.id is not None else RequestTarget.collection()

        def listener(event: Any) -> None:
            value = event.value if isinstance(event, ChangeEvent) else event
            deliver(Message.of_value(topic, value, 0.0, retain=False))

        context = RequestContext(user=user, check_permission=True)
        return self._caller.open("subscribe", found.resource, target, context, listener)

    def reader(self, user: Any) -> Callable[[Message], Optional[Message]]:
        """
        What C{user} receives of a table change's message: nothing (C{None}) from a table it
        may not read, the value without the attributes its role may not read otherwise (the
        verdict is worked out once per table).
        """
        context = RequestContext(user=user, check_permission=True)
        readers: dict[tuple[str, str], Any] = {}

        def readable(message: Message) -> Optional[Message]:
            source = message.source
            if source not in readers:
                readers[source] = self._reader(source, user)
            resource = readers[source]
            if resource is None:
                return None
            value = message.value
            if value is None:
                return message
            visible = resource.visible(value, context)
            if visible is value:
                return message
            copy = Message.of_value(message.topic, visible, message.created,
                                    retain=message.retain, source=source)
            copy.sender, copy.key = message.sender, message.key
            return copy

        return readable

    def _reader(self, source: tuple[str, str], user: Any) -> Any:
        """
        The resource exporting table C{source} if C{user} may subscribe to it, else C{None}.
        """
        path = self._paths.get(source)
        if path is None:
            return None
        try:
            resource, _ = self._registry.resolve(path)
        except NotFound:
            return None
        return resource if self._permits(user, "subscribe", resource, RequestTarget.collection()) else None

    def message_for(self, event: ChangeEvent, now: float) -> Optional[Message]:
        """
        The message a committed change produces on its record's topic, or C{None} when the
        table is not exported; a change made by a client's publish to that topic has the client
        as its sender (for No Local).
        """
        path = self._paths.get((event.database, event.table))
        if path is None:
            return None
        topic = path if event.id is None else f"{path}/{event.id}"
        value = None if event.type == DELETE else event.value
        message = Message.of_value(topic, value, now, retain=event.type != MESSAGE,
                                   source=(event.database, event.table))
        message.sender = self._echoes.sender(event, topic)
        message.key = f"{event.type}:{event.timestamp!r}:{topic}"
        return message

    def current(self, user: Any, topic_filter: str, now: float) -> Deferred:
        """
        The current records a new subscription to C{topic_filter} gets as retained messages:
        the record for C{Dog/1}, every record for C{Dog/#} and C{Dog/+}; fires with a list of
        messages.
        """
        wildcard = topic_filter.endswith(("/#", "/+"))
        try:
            found = self.resolve(topic_filter[:-2] if wildcard else topic_filter)
        except InvalidInput:
            return succeed([])
        if found is None or found.table is None:
            return succeed([])
        source = (found.table.database, found.table.name)
        context = RequestContext(user=user, check_permission=True)
        if wildcard and found.target == RequestTarget():
            key = found.table.primary_key
            d = self._caller.call("search", found.resource, RequestTarget.collection(), context)
            return d.addCallback(lambda records: [
                Message.of_value(f"{found.path}/{record[key]}", record, now, source=source)
                for record in records])
        if wildcard or found.target.id is None:
            return succeed([])
        d = self._caller.call("get", found.resource, found.target, context)
        d.addCallback(lambda record: [Message.of_value(topic_filter, record, now, source=source)])
        return d.addErrback(_nothing_when_absent)


def _subscribes(resource: Any) -> bool:
    overrides = getattr(resource, "overrides", None)
    return overrides is not None and overrides("subscribe")


def _nothing_when_absent(failure: Any) -> list[Message]:
    failure.trap(NotFound)
    return []
