# -*- test-case-name: tests.websocket.test_resource -*-
"""
MQTT over WebSocket (subprotocol C{mqtt}): each binary message carries part of the MQTT byte
stream (MQTT 5 section 6), which goes to an ordinary L{harper.mqtt.session.MQTTSession}.
Resource payloads use the C{Content-Type} of the upgrade request (JSON by default).
"""

from __future__ import annotations

from typing import Any, Mapping

from harper.mqtt.decoder import MQTTDecoder
from harper.mqtt.protocol import feed
from harper.mqtt.session import MQTTSession
from harper.pubsub.payloads import UnsupportedContentType, media_type


class MQTTWebSocketChannel:
    """
    One MQTT connection over a WebSocket.

    :param broker: the L{harper.mqtt.broker.Broker}.
    :param socket: the WebSocket protocol: C{send(data, binary)}, C{close(code, reason)},
        C{pause_reading()}, C{resume_reading()} and C{address}.
    :param headers: the upgrade request's headers (lower-case names).
    """

    subprotocol = "mqtt"

    def __init__(self, broker: Any, socket: Any, headers: Mapping[str, str]) -> None:
        self._socket = socket
        self._decoder = MQTTDecoder(max_packet_size=broker.settings.maximum_packet_size)
        try:
            content_type = media_type(headers.get("content-type"))
        except UnsupportedContentType:
            content_type = None
        self.session = MQTTSession(broker, broker.clock, self, content_type)

    @classmethod
    def factory(cls, broker: Any) -> Any:
        """
        The channel maker to give L{harper.websocket.protocol.RealtimeFactory}.
        """
        return lambda socket, headers: cls(broker, socket, headers)

    @property
    def peer(self) -> str:
        return self._socket.address

    # -- from the WebSocket ----------------------------------------------------------------

    def opened(self) -> None:
        """
        The handshake is done; the client speaks first (CONNECT).
        """

    def message_received(self, payload: bytes, binary: bool) -> None:
        """
        Bytes of the MQTT stream.
        """
        feed(self._decoder, self.session, payload)

    def closed(self) -> None:
        """
        The WebSocket closed.
        """
        self.session.connection_lost()

    def pause(self) -> None:
        self.session.outbound.pause()

    def resume(self) -> None:
        self.session.outbound.resume()

    # -- what the session calls ------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        self._socket.send(data, True)

    def close(self) -> None:
        self._socket.close(1000, "")

    def pause_reading(self) -> None:
        self._socket.pause_reading()

    def resume_reading(self) -> None:
        self._socket.resume_reading()
