# -*- test-case-name: tests.websocket.test_resource -*-
"""
Real-time requests on the HTTP port: L{RealtimeResource} sits in front of the HTTP root and
takes WebSocket upgrades (resource subscriptions, and MQTT with the C{mqtt} subprotocol) and
C{Accept: text/event-stream} requests; everything else goes to the root it wraps.
"""

from __future__ import annotations

from typing import Any, Optional

from autobahn.twisted.resource import WebSocketResource
from twisted.web import resource, server

from harper.pubsub.slow import DISCONNECT
from harper.websocket.channel import Authenticate
from harper.websocket.protocol import DEFAULT_MAX_MESSAGE_SIZE, MQTTChannelFactory, RealtimeFactory
from harper.websocket.sse import EventStream
from harper.websocket.subscriptions import Subscriptions


def _header(request: server.Request, name: bytes) -> str:
    value = request.getHeader(name)
    return value.decode("latin-1").lower() if value else ""


class RealtimeResource(resource.Resource):
    """
    The HTTP root with WebSocket and event-stream handling in front.

    :param fallback: the HTTP root for every other request.
    :param registry: the exported resources.
    :param caller: runs resource methods in transactions.
    :param authenticate: C{authenticate(authorization_header, client_address)}, firing with
        the user or C{None} (see L{harper.auth.authenticator.Authenticator.authenticate}).
    :param mqtt: makes MQTT-over-WebSocket channels (see
        L{harper.mqtt.websocket.MQTTWebSocketChannel.factory}), or C{None} to refuse them.
    :param web_socket: serve resource subscriptions over WebSocket (Harper's
        C{rest.webSocket}).
    :param slow_consumers: events held for a WebSocket or event-stream client that reads too
        slowly, and what happens past that bound (C{http.maxQueuedMessages},
        C{http.slowConsumer}).
    :param max_message_size: the largest WebSocket message in bytes
        (C{http.maxWebSocketMessageSize}).
    """

    def __init__(self, fallback: resource.Resource, registry: Any, caller: Any, authenticate: Authenticate,
                 mqtt: Optional[MQTTChannelFactory] = None, web_socket: bool = True,
                 slow_consumers: tuple[int, str] = (1000, DISCONNECT),
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        super().__init__()
        self._fallback = fallback
        subscriptions = Subscriptions(registry, caller)
        self.factory = RealtimeFactory(subscriptions, authenticate, mqtt, slow_consumers, max_message_size)
        self._websocket = WebSocketResource(self.factory)
        self._events = EventStream(subscriptions, authenticate, slow_consumers)
        self._web_socket = web_socket
        self._mqtt = mqtt is not None

    def _realtime(self, request: server.Request) -> Optional[resource.Resource]:
        if request.method != b"GET":
            return None
        if "websocket" in _header(request, b"upgrade"):
            offers_mqtt = "mqtt" in [p.strip() for p in _header(request, b"sec-websocket-protocol").split(",")]
            if (offers_mqtt and self._mqtt) or self._web_socket:
                return self._websocket
            return None
        if "text/event-stream" in _header(request, b"accept"):
            return self._events
        return None

    def getChildWithDefault(self, name: bytes, request: server.Request) -> Any:
        realtime = self._realtime(request)
        if realtime is not None:
            return realtime
        if getattr(self._fallback, "isLeaf", False):
            request.postpath.insert(0, request.prepath.pop())
            return self._fallback
        return self._fallback.getChildWithDefault(name, request)

    def render(self, request: server.Request) -> Any:
        realtime = self._realtime(request)
        if realtime is not None:
            return realtime.render(request)
        return self._fallback.render(request)
