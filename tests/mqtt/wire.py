"""
An in-memory harness for protocol and session tests: a broker on a L{Clock}, and clients that
are protocols on L{StringTransport}s fed with packets encoded by our codec.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from harper.mqtt.broker import Broker
from harper.mqtt.codec import MQTTDecoder, encode
from harper.mqtt.packets import MQTT_5, Connect, Packet, Subscribe, SubscriptionOptions
from harper.mqtt.properties import NO_PROPERTIES, Properties
from harper.mqtt.protocol import MQTTFactory
from harper.mqtt.session import SessionSettings
from tests.mqtt.helpers import authenticate


class Peer:
    """
    One client connection: send packets in, read the packets the server wrote.

    :ivar level: the protocol level packets are encoded and decoded with.
    """

    def __init__(self, factory: MQTTFactory, level: int = MQTT_5) -> None:
        self.level = level
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 50000))
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        self._decoder = MQTTDecoder(level)
        self._pending: list[Packet] = []

    @property
    def session(self) -> Any:
        return self.protocol.session

    @property
    def closed(self) -> bool:
        """
        Whether the server asked to close the connection.
        """
        return self.transport.disconnecting

    def send(self, *packets: Packet) -> None:
        """
        Deliver C{packets} to the server.
        """
        self.send_bytes(b"".join(encode(packet, self.level) for packet in packets))

    def send_bytes(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def received(self) -> list[Packet]:
        """
        The packets the server wrote since the last call.
        """
        data = self.transport.value()
        self.transport.clear()
        packets, self._pending = self._pending + self._decoder.feed(data), []
        return packets

    def take_first(self) -> Packet:
        """
        The first packet the server wrote; the others stay for L{received}.
        """
        packets = self.received()
        self._pending = packets[1:]
        return packets[0]

    def lose(self) -> None:
        """
        The network connection drops.
        """
        self.protocol.connectionLost(Failure(ConnectionDone()))


class Wire:
    """
    A broker on a clock, and a way to connect clients to it.
    """

    def __init__(self, settings: SessionSettings = SessionSettings(), require_authentication: bool = False,
                 broker: Optional[Broker] = None) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.broker = broker or Broker(self.clock, authenticate=authenticate,
                                       require_authentication=require_authentication,
                                       settings=settings)
        self.factory = MQTTFactory(self.broker, self.clock)

    def peer(self, level: int = MQTT_5) -> Peer:
        """
        A new connection that has sent nothing yet.
        """
        return Peer(self.factory, level)

    def client(self, client_id: str, level: int = MQTT_5, clean_start: bool = True,
               properties: Properties = NO_PROPERTIES, **connect: Any) -> Peer:
        """
        A connected client (its CONNACK already read).
        """
        peer = self.peer(level)
        peer.send(Connect(client_id, clean_start, properties=properties, protocol_level=level, **connect))
        peer.connack = peer.take_first()
        return peer

    def subscriber(self, client_id: str, topic_filter: str, qos: int = 1, level: int = MQTT_5,
                   **connect: Any) -> Peer:
        """
        A connected client subscribed to C{topic_filter} (its SUBACK already read).
        """
        peer = self.client(client_id, level, **connect)
        peer.send(Subscribe(1, [(topic_filter, SubscriptionOptions(qos))]))
        peer.suback = peer.received()[0]
        return peer
