# -*- test-case-name: tests.websocket.test_resource -*-
"""
Server-Sent Events: a request with C{Accept: text/event-stream} on a resource path streams
the resource's events, one C{text/event-stream} event each, until the client goes away.

A table change is written as C{event: <type>}, C{data: <JSON of the value>} and
C{id: <version>}; a mapping with C{event}, C{data}, C{id} or C{retry} keys (from a custom
resource) field by field; anything else as C{data: <JSON>}.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

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


def format_event(event: Any) -> bytes:
    """
    The bytes of one event in the C{text/event-stream} format.
    """
    if isinstance(event, ChangeEvent):
        lines = [f"event: {event.type}", *_data_lines(event.value), f"id: {event.timestamp}"]
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
        path = unquote(uri.path)
        stream = _Stream(request, *self._slow_consumers)
        authorization = credentials(headers.get("authorization"), headers.get("cookie"))
        d = self._authenticate(authorization, request.getClientAddress().host)
        d.addCallback(lambda user: self._subscriptions.open(path, uri.query, user, headers, stream.deliver))
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

    def __init__(self, request: server.Request, max_pending: int, slow_consumer: str) -> None:
        self._request = request
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
        if not self._gone:
            self._begin()
            self._backlog.offer(format_event(event))

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
