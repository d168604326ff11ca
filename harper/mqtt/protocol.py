# -*- test-case-name: tests.mqtt.test_session -*-
"""
MQTT over a byte stream (TCP, TLS): L{MQTTServerProtocol} cuts the stream into packets with
the codec and hands them to its L{harper.mqtt.session.MQTTSession}; it writes what the session
sends and tells it when the peer reads too slowly. It holds no MQTT state.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from harper.mqtt.decoder import MQTTDecoder
from harper.mqtt.packets import MalformedPacket
from harper.mqtt.session import MQTTSession


def peer_address(transport: Any) -> str:
    """
    The client's IP address (or the peer's description for other transports).
    """
    peer = transport.getPeer()
    return str(getattr(peer, "host", peer))


def feed(decoder: MQTTDecoder, session: MQTTSession, data: bytes) -> None:
    """
    Decode C{data} and hand each packet to C{session}; on bytes that break the protocol, the
    packets before them are handled, then the session closes the connection.
    """
    try:
        packets = decoder.feed(data)
    except MalformedPacket as error:
        for packet in error.packets:
            session.packet_received(packet)
        session.protocol_violation(error)
        return
    for packet in packets:
        session.packet_received(packet)


@implementer(IPushProducer)
class MQTTServerProtocol(Protocol):
    """
    One client connection's bytes.

    :param new_session: makes the session of this connection, given the protocol.
    :param max_packet_size: the largest packet accepted, or C{None} for MQTT's limit.
    :param identify: the user named by the verified client certificate of a transport
        (mutual TLS), or C{None} when the listener does not log clients in by certificate.
    :ivar session: the session, once connected.
    :ivar peer: the client's address.
    """

    def __init__(self, new_session: Callable[[Any], MQTTSession],
                 max_packet_size: Optional[int] = None,
                 identify: Optional[Callable[[Any], Optional[str]]] = None) -> None:
        self._new_session = new_session
        self._max_packet_size = max_packet_size
        self._identify = identify
        self.session: Any = None
        self.peer = ""

    def connectionMade(self) -> None:
        self.peer = peer_address(self.transport)
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            # Packets go out when the reactor writes, not when the peer's delayed ACK comes.
            no_delay(True)
        self._decoder = MQTTDecoder(max_packet_size=self._max_packet_size)
        self.session = self._new_session(self)
        self.transport.registerProducer(self, True)

    def dataReceived(self, data: bytes) -> None:
        feed(self._decoder, self.session, data)

    def connectionLost(self, reason: Failure = None) -> None:
        if self.session is not None:
            self.session.connection_lost()

    # -- what the session calls --------------------------------------------------------------

    @property
    def certificate_user(self) -> Optional[str]:
        """
        The user named by the client's verified TLS certificate, or C{None}.
        """
        return None if self._identify is None else self._identify(self.transport)

    def send_bytes(self, data: bytes) -> None:
        """
        Write encoded packets.
        """
        self.transport.write(data)

    def close(self) -> None:
        """
        Close the connection once the written bytes are sent, or at once when the client
        stopped reading them (waiting would keep a slow consumer's buffer forever).
        """
        if self.session.outbound.paused:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def pause_reading(self) -> None:
        """
        Stop reading from the client.
        """
        self.transport.pauseProducing()

    def resume_reading(self) -> None:
        """
        Read from the client again.
        """
        self.transport.resumeProducing()

    # -- IPushProducer: the transport's write buffer ----------------------------------------

    def pauseProducing(self) -> None:
        self.session.outbound.pause()

    def resumeProducing(self) -> None:
        self.session.outbound.resume()

    def stopProducing(self) -> None:
        pass


class MQTTFactory(ServerFactory):
    """
    Builds one protocol and session per accepted connection.

    :param broker: the L{harper.mqtt.broker.Broker}.
    :param clock: the sessions' clock.
    :param identify: see L{MQTTServerProtocol}.
    """

    def __init__(self, broker: Any, clock: IReactorTime,
                 identify: Optional[Callable[[Any], Optional[str]]] = None) -> None:
        self.broker = broker
        self.clock = clock
        self.identify = identify

    def buildProtocol(self, addr: Any) -> MQTTServerProtocol:
        protocol = MQTTServerProtocol(self.new_session, self.broker.settings.maximum_packet_size,
                                      self.identify)
        protocol.factory = self
        return protocol

    def new_session(self, connection: Any) -> MQTTSession:
        """
        The session of a new connection.
        """
        return MQTTSession(self.broker, self.clock, connection)
