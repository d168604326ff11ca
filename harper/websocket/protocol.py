# -*- test-case-name: tests.websocket.test_resource -*-
"""
The Autobahn side of real-time WebSockets: L{RealtimeProtocol} frames messages and hands
them to a channel (a resource subscription, or MQTT when the client asks for the C{mqtt}
subprotocol); it holds no subscription state.
"""

from __future__ import annotations

from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from autobahn.exception import PayloadExceededError
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionRequest
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from harper.pubsub.slow import DISCONNECT
from harper.websocket.channel import Authenticate, ResourceChannel
from harper.websocket.subscriptions import Subscriptions

#: The largest WebSocket message accepted by default, in bytes (C{http.maxWebSocketMessageSize}).
DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024

#: Makes the channel of an MQTT-over-WebSocket connection: C{(socket, headers)} to a channel.
MQTTChannelFactory = Callable[[Any, dict], Any]


@implementer(IPushProducer)
class _WriteFlow:
    """
    Tells a channel when the TCP transport's write buffer fills up and drains.
    """

    def __init__(self, channel: Any) -> None:
        self._channel = channel

    def pauseProducing(self) -> None:
        self._channel.pause()

    def resumeProducing(self) -> None:
        self._channel.resume()

    def stopProducing(self) -> None:
        pass


class RealtimeProtocol(WebSocketServerProtocol):
    """
    One WebSocket connection.

    :ivar channel: what the connection carries, chosen during the handshake.
    :ivar address: the client's IP address.
    """

    channel: Any = None
    address = ""

    def onConnect(self, request: ConnectionRequest) -> Optional[str]:
        peer = self.transport.getPeer()
        self.address = str(getattr(peer, "host", peer))
        self.channel = self.factory.channel_for(self, request)
        return self.channel.subprotocol

    def onOpen(self) -> None:
        flow = _WriteFlow(self.channel)
        try:
            self.transport.registerProducer(flow, True)
        except RuntimeError:
            # The HTTP channel that served the upgrade request is still registered.
            self.transport.unregisterProducer()
            self.transport.registerProducer(flow, True)
        self.channel.opened()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.channel.message_received(payload, isBinary)

    def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
        if self.channel is not None:
            self.channel.closed()

    # -- what channels call ----------------------------------------------------------------

    def send(self, data: bytes, binary: bool) -> None:
        """
        Send one message; one larger than the factory's C{max_message_size} closes the
        WebSocket with code 1009 instead (the bound holds both ways).
        """
        try:
            self.sendMessage(data, isBinary=binary)
        except PayloadExceededError:
            self.close(1009, "message too big")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """
        Close with C{code} (any code, including 1011, which Autobahn's C{sendClose} refuses).
        """
        self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8")[:123], isReply=False)

    def pause_reading(self) -> None:
        self.transport.pauseProducing()

    def resume_reading(self) -> None:
        self.transport.resumeProducing()


class RealtimeFactory(WebSocketServerFactory):
    """
    Chooses each connection's channel.

    :param subscriptions: opens resource subscriptions.
    :param authenticate: finds the user of an upgrade request.
    :param mqtt: makes MQTT channels, or C{None} when MQTT over WebSocket is off.
    :param slow_consumers: the bound and policy of resource channels for clients that read too
        slowly (see L{ResourceChannel}).
    :param max_message_size: the largest message (and frame) in bytes; a client sending a
        larger one is disconnected with close code 1009 as soon as its size is known.
    """

    protocol = RealtimeProtocol

    def __init__(self, subscriptions: Subscriptions, authenticate: Authenticate,
                 mqtt: Optional[MQTTChannelFactory] = None,
                 slow_consumers: tuple[int, str] = (1000, DISCONNECT),
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        super().__init__()
        # failByDrop=False: a client breaking a rule (a message too big) is told why with a
        # close frame (code 1009, ...) before the connection closes.
        self.setProtocolOptions(autoPingInterval=30, autoPingTimeout=60, failByDrop=False,
                                maxFramePayloadSize=max_message_size,
                                maxMessagePayloadSize=max_message_size)
        self._subscriptions = subscriptions
        self._authenticate = authenticate
        self._mqtt = mqtt
        self._slow_consumers = slow_consumers

    def channel_for(self, socket: RealtimeProtocol, request: ConnectionRequest) -> Any:
        """
        An MQTT channel when the client offers the C{mqtt} subprotocol (and MQTT over
        WebSocket is on), else a resource channel for the request path.
        """
        headers = dict(request.headers)
        if self._mqtt is not None and "mqtt" in request.protocols:
            return self._mqtt(socket, headers)
        query = urlsplit(socket.http_request_uri).query
        return ResourceChannel(self._subscriptions, self._authenticate, socket, unquote(request.path), query,
                               headers, *self._slow_consumers)
