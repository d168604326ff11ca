# -*- test-case-name: tests.websocket.test_resource -*-
"""
Server-Sent Events: a request with C{Accept: text/event-stream} on a resource path streams
the resource's events, one C{text/event-stream} event each, until the client goes away.

A table change is written as C{event: <type>}, C{data: <JSON of the value>} and
C{id: <position>}; a mapping with C{event}, C{data}, C{id} or C{retry} keys (from a custom
resource) field by field; anything else as C{data: <JSON>}.

The position of a change is its audit timestamp (its version), followed by C{:<n>} for the
n-th further change of the same timestamp on the stream (L{EventIds}). A client that comes
back with C{Last-Event-ID: <position>} (as browsers' C{EventSource} do by themselves) gets the
changes after that position out of the audit log, then the live ones: the request is answered
as with C{startTime=<timestamp>}, less the changes up to that position.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.web import resource, server
from zope.interface import implementer

from harper.auth.sessions import credentials
from harper.database.events import ChangeEvent
from harper.pubsub.payloads import encode_payload
from harper.pubsub.slow import DISCONNECT, Backlog
from harper.websocket.channel import Authenticate
from harper.websocket.refusals import is_expected, refusal_for
from harper.websocket.subscriptions import Subscriptions

_FIELDS = ("event", "id", "retry")


def _data_lines(data: Any) -> list[str]:
    text = data if isinstance(data, str) else encode_payload(data).decode("utf-8")
    return [f"data: {line}" for line in text.split("\n")]


#: The query parameters a resume position replaces.
_HISTORY = ("startTime", "previousCount")

#: A position in a stream of change events: audit timestamp, and how many changes of that
#: timestamp came before on the stream.
Position = tuple[float, int]


def parse_event_id(text: str) -> Optional[Position]:
    """
    The position named by an event id made by L{EventIds}, or C{None} when C{text} is not
    such an id (a custom resource's own id, which it reads from the request headers).
    """
    stamp, _, ordinal = text.strip().partition(":")
    try:
        position = (float(stamp), int(ordinal) if ordinal else 0)
    except ValueError:
        return None
    if not math.isfinite(position[0]) or position[1] < 0:
        return None
    return position


def resumed_query(query: str, position: Position) -> str:
    """
    C{query} with its history options replaced by C{startTime} at C{position}.
    """
    kept = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True)
            if name not in _HISTORY]
    return urlencode([*kept, ("startTime", repr(position[0]))])


class EventIds:
    """
    Gives the change events of one stream their ids, and passes over those at or before the
    position a client resumes from.

    :param after: the position of the last event the client saw, or C{None}.
    """

    def __init__(self, after: Optional[Position] = None) -> None:
        self._after = after
        self._stamp: Optional[float] = None
        self._ordinal = 0

    def next(self, event: ChangeEvent) -> Optional[str]:
        """
        The id of C{event}, the next change on the stream, or C{None} when the client saw it.
        """
        stamp = event.timestamp
        if stamp == self._stamp:
            self._ordinal += 1
        else:
            self._stamp, self._ordinal = stamp, 0
        if self._after is not None and (stamp, self._ordinal) <= self._after:
            return None
        return f"{stamp}:{self._ordinal}" if self._ordinal else f"{stamp}"


def format_event(event: Any, event_id: Optional[str] = None) -> bytes:
    """
    The bytes of one event in the C{text/event-stream} format.

    :param event_id: the id of a change event (its timestamp when not given).
    """
    if isinstance(event, ChangeEvent):
        event_id = f"{event.timestamp}" if event_id is None else event_id
        lines = [f"event: {event.type}", *_data_lines(event.value), f"id: {event_id}"]
    elif isinstance(event, Mapping) and any(key in event for key in ("data", *_FIELDS)):
        lines = [f"{key}: {event[key]}" for key in _FIELDS if key in event]
        if "data" in event:
            lines += _data_lines(event["data"])
    else:
        lines = _data_lines(event)
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _headers(request: server.Request) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): values[-1].decode("latin-1")
        for name, values in request.requestHeaders.getAllRawHeaders()
    }


class EventStream(resource.Resource):
    """
    Serves event streams.

    :param subscriptions: opens resource subscriptions.
    :param authenticate: finds the user of a request from its C{Authorization} header.
    :param slow_consumers: events held for a client that reads too slowly, and what happens
        past that bound (L{harper.pubsub.slow.DISCONNECT}: the connection is closed, or
        L{harper.pubsub.slow.DROP}).
    """

    isLeaf = True
    _log = Logger()

    def __init__(self, subscriptions: Subscriptions, authenticate: Authenticate,
                 slow_consumers: tuple[int, str] = (1000, DISCONNECT)) -> None:
        super().__init__()
        self._subscriptions = subscriptions
        self._authenticate = authenticate
        self._slow_consumers = slow_consumers

    def render_GET(self, request: server.Request) -> Any:
        headers = _headers(request)
        uri = urlsplit(request.uri.decode("utf-8", "replace"))
        path, query = unquote(uri.path), uri.query
        resume = parse_event_id(headers.get("last-event-id", ""))
        if resume is not None:
            query = resumed_query(query, resume)
        stream = _Stream(request, *self._slow_consumers, EventIds(resume))
        authorization = credentials(headers.get("authorization"), headers.get("cookie"))
        d = self._authenticate(authorization, request.getClientAddress().host)
        d.addCallback(lambda user: self._subscriptions.open(path, query, user, headers, stream.deliver))
        d.addCallbacks(stream.started, self._refused, errbackArgs=(request, path))
        return server.NOT_DONE_YET

    def _refused(self, failure: Any, request: server.Request, path: str) -> None:
        if not is_expected(failure):
            self._log.failure("opening an event stream on {path} failed", failure, path=path)
        refusal = refusal_for(failure.value)
        if request.finished or request.channel is None:
            return
        request.setResponseCode(refusal.status)
        request.setHeader(b"content-type", b"application/json")
        request.write(encode_payload({"error": refusal.reason}))
        request.finish()


@implementer(IPushProducer)
class _Stream:
    """
    One open event stream; the producer of its request, so that it knows when the client
    reads too slowly.
    """

    _log = Logger()

    def __init__(self, request: server.Request, max_pending: int, slow_consumer: str,
                 ids: EventIds) -> None:
        self._request = request
        self._ids = ids
        self._subscription: Any = None
        self._gone = False
        self._begun = False
        self._backlog = Backlog(request.write, self._too_slow, max_pending, slow_consumer)
        request.notifyFinish().addBoth(self._finished)

    def _begin(self) -> None:
        if self._begun:
            return
        self._begun = True
        request = self._request
        request.setHeader(b"content-type", b"text/event-stream")
        request.setHeader(b"cache-control", b"no-cache")
        request.registerProducer(self, True)
        request.write(b": subscribed\n\n")

    def started(self, subscription: Any) -> None:
        """
        The subscription is open.
        """
        if self._gone:
            subscription.close()
            return
        self._subscription = subscription
        self._begin()

    def deliver(self, event: Any) -> None:
        """
        Write one event.
        """
        if self._gone:
            return
        event_id = None
        if isinstance(event, ChangeEvent):
            event_id = self._ids.next(event)
            if event_id is None:
                return
        self._begin()
        self._backlog.offer(format_event(event, event_id))

    def _too_slow(self) -> None:
        self._log.info("closing an event stream: the client reads too slowly")
        channel = self._request.channel
        if channel is not None:
            channel.transport.abortConnection()

    def pauseProducing(self) -> None:
        self._backlog.pause()

    def resumeProducing(self) -> None:
        self._backlog.resume()

    def stopProducing(self) -> None:
        pass

    def _finished(self, result: Any) -> None:
        self._gone = True
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
