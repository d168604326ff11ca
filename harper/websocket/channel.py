# -*- test-case-name: tests.websocket.test_resource -*-
"""
A WebSocket carrying a resource subscription: after the handshake the client is
authenticated from the upgrade request's C{Authorization} header, the resource's C{connect}
is called, and each event becomes one message in the negotiated content type (JSON text
frames by default, CBOR or MessagePack binary frames). Messages from the client are decoded
and handed to the subscription's C{receive} method when it has one.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from harper.auth.sessions import credentials
from harper.errors import InvalidInput
from harper.pubsub.payloads import JSON, UnsupportedContentType, decode_payload, encode_payload, media_type
from harper.pubsub.slow import DISCONNECT, Backlog
from harper.websocket.refusals import is_expected, refusal_for
from harper.websocket.subscriptions import Subscriptions, event_record

#: C{authenticate(authorization_header, client_address)}: fires with the user or C{None}.
Authenticate = Callable[[Optional[str], str], Deferred]


def negotiated_type(headers: Mapping[str, str]) -> str:
    """
    The content type of outgoing messages: the first supported type of C{Accept}, else the
    C{Content-Type}, else JSON.
    """
    for candidate in headers.get("accept", "").split(","):
        candidate = candidate.split(";", 1)[0].strip()
        if candidate in ("", "*/*"):
            continue
        try:
            return media_type(candidate)
        except UnsupportedContentType:
            continue
    try:
        return media_type(headers.get("content-type"))
    except UnsupportedContentType:
        return JSON


class ResourceChannel:
    """
    One WebSocket subscribed to one resource path.

    :param subscriptions: opens the subscription.
    :param authenticate: finds the user of the upgrade request.
    :param socket: the WebSocket protocol: C{send(data, binary)}, C{close(code, reason)}
        and C{address}.
    :param path: the request path.
    :param query: the request's query string.
    :param headers: the upgrade request's headers (lower-case names).
    :param max_pending: messages kept while the client reads too slowly
        (C{http.maxQueuedMessages}).
    :param slow_consumer: past that bound, L{harper.pubsub.slow.DISCONNECT} the client (close
        code 4008) or L{harper.pubsub.slow.DROP} the messages (C{http.slowConsumer}).
    """

    subprotocol: Optional[str] = None
    _log = Logger()

    def __init__(self, subscriptions: Subscriptions, authenticate: Authenticate, socket: Any, path: str,
                 query: str, headers: Mapping[str, str], max_pending: int = 1000,
                 slow_consumer: str = DISCONNECT) -> None:
        self._subscriptions = subscriptions
        self._authenticate = authenticate
        self._socket = socket
        self._path, self._query, self._headers = path, query, headers
        self._outgoing = negotiated_type(headers)
        self._incoming = headers.get("content-type")
        self._subscription: Any = None
        self._closed = False
        self._backlog = Backlog(self._send, self._too_slow, max_pending, slow_consumer)

    def opened(self) -> None:
        """
        The handshake is done: authenticate and subscribe.
        """
        authorization = credentials(self._headers.get("authorization"), self._headers.get("cookie"))
        d = self._authenticate(authorization, self._socket.address)
        d.addCallback(lambda user: self._subscriptions.open(self._path, self._query, user, self._headers, self.deliver))
        d.addCallbacks(self._subscribed, self._refused)

    def _subscribed(self, subscription: Any) -> None:
        if self._closed:
            subscription.close()
        else:
            self._subscription = subscription

    def _refused(self, failure: Any) -> None:
        if not is_expected(failure):
            self._log.failure("opening a WebSocket subscription to {path} failed", failure, path=self._path)
        refusal = refusal_for(failure.value)
        self._socket.close(refusal.close_code, refusal.reason)

    def deliver(self, event: Any) -> None:
        """
        Send one event to the client.
        """
        if self._closed:
            return
        self._backlog.offer(encode_payload(event_record(event), self._outgoing))

    def _send(self, data: bytes) -> None:
        self._socket.send(data, self._outgoing != JSON)

    def _too_slow(self) -> None:
        self._socket.close(4008, "the client reads too slowly")

    def message_received(self, payload: bytes, binary: bool) -> None:
        """
        A message from the client, for a subscription that accepts them.
        """
        receive = getattr(self._subscription, "receive", None)
        if receive is None:
            return
        try:
            receive(decode_payload(payload, self._incoming))
        except InvalidInput as error:
            self._socket.close(1007, error.message)

    def pause(self) -> None:
        """
        The client's socket buffer is full: hold messages back.
        """
        self._backlog.pause()

    def resume(self) -> None:
        """
        Send what was held back.
        """
        self._backlog.resume()

    def closed(self) -> None:
        """
        The WebSocket closed: end the subscription.
        """
        self._closed = True
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
