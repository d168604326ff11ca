# -*- test-case-name: tests.mqtt.test_session -*-
"""
The state machine of one MQTT connection: CONNECT and authentication, then the packets of a
connected client, keep-alive on an injected clock, and the end of the connection (DISCONNECT,
Last Will, protocol errors).

The session gets packets from L{harper.mqtt.protocol} and writes through it; it knows no
sockets. Packets are handled one at a time in arrival order: while one waits for the broker
(a commit, an authentication), later ones wait too, so acknowledgements keep the order of the
packets they answer (MQTT-4.6.0-2 to MQTT-4.6.0-4).
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any, Optional

import attr
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from harper.mqtt.encoder import encode
from harper.mqtt.inbound import InboundFlow, ProtocolViolation
from harper.mqtt.outbound import DROP, OutboundFlow
from harper.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    MalformedPacket,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocolVersion,
    Will,
)
from harper.mqtt.properties import NO_PROPERTIES, Properties
from harper.mqtt.state import NEVER_EXPIRES, SessionState, Subscription

#: How many packets may wait behind a packet being handled before reading pauses.
_BACKLOG_LIMIT = 256


class Phase(enum.Enum):
    """
    Where a connection is in its life.
    """

    AWAITING_CONNECT = "awaiting CONNECT"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


@attr.frozen
class SessionSettings:
    """
    The server's limits, announced in CONNACK.

    :ivar receive_maximum: QoS 1 and 2 publishes a client may have unacknowledged.
    :ivar topic_alias_maximum: topic aliases a client may set.
    :ivar maximum_packet_size: the largest packet accepted, or C{None} for MQTT's limit.
    :ivar max_queued: messages kept per session for a client that is away or slow.
    :ivar server_keep_alive: the keep-alive the server imposes when a client asks for none or
        a longer one, or C{None}.
    :ivar max_queued_bytes: bytes written to a client whose socket stopped draining before
        C{slow_consumer} applies to its QoS 0 messages.
    :ivar slow_consumer: L{harper.mqtt.outbound.DROP} or L{harper.mqtt.outbound.DISCONNECT}.
    :ivar max_subscriptions: topic filters a session may subscribe to, or 0 for no bound;
        the filters past it are refused with L{ReasonCode.QUOTA_EXCEEDED}.
    :ivar connect_timeout: seconds a new connection may take to send its CONNECT before it
        is closed, or C{None} for no bound.
    """

    receive_maximum: int = 1024
    topic_alias_maximum: int = 64
    maximum_packet_size: Optional[int] = None
    max_queued: int = 1000
    server_keep_alive: Optional[int] = None
    max_queued_bytes: int = 1 << 20
    slow_consumer: str = DROP
    max_subscriptions: int = 0
    connect_timeout: Optional[float] = None

    @classmethod
    def from_config(cls, mqtt: Any) -> SessionSettings:
        """
        The settings of the C{mqtt} configuration section
        (L{harper.components.config_sections.MqttConfig}).
        """
        return cls(max_queued=mqtt.max_queued_messages, max_queued_bytes=mqtt.max_queued_bytes,
                   slow_consumer=mqtt.slow_consumer, receive_maximum=mqtt.max_inflight_messages,
                   maximum_packet_size=mqtt.max_packet_size or None,
                   max_subscriptions=mqtt.max_subscriptions,
                   connect_timeout=mqtt.connect_timeout / 1000.0 if mqtt.connect_timeout else None)


class MQTTSession:
    """
    One client connection.

    :param broker: the L{harper.mqtt.broker.Broker}.
    :param clock: keep-alive timers and message timestamps.
    :param connection: the protocol: C{send_bytes(data)}, C{close()}, C{pause_reading()},
        C{resume_reading()} and C{peer} (the client's address).
    :param content_type: the media type of resource payloads on this connection (JSON when
        C{None}).
    :ivar state: the L{SessionState} once connected.
    :ivar user: the authenticated user, or C{None} for an anonymous client.
    """

    _log = Logger()

    def __init__(self, broker: Any, clock: IReactorTime, connection: Any,
                 content_type: Optional[str] = None) -> None:
        self.broker = broker
        self.clock = clock
        self.connection = connection
        self.content_type = content_type
        self.settings: SessionSettings = broker.settings
        self.phase = Phase.AWAITING_CONNECT
        self.protocol_level = MQTT_5
        self.client_id: Optional[str] = None
        self.user: Any = None
        self.state: Optional[SessionState] = None
        self.will: Optional[Will] = None
        self.keep_alive = 0
        self.outbound = OutboundFlow(self, self.settings.slow_consumer,
                                     self.settings.max_queued_bytes)
        self.inbound = InboundFlow(self)
        self._last_activity = clock.seconds()
        self._keep_alive_call: Any = None
        self._connect_call: Any = None
        if self.settings.connect_timeout:
            self._connect_call = clock.callLater(self.settings.connect_timeout, self._connect_timed_out)
        self._backlog: deque[Packet] = deque()
        self._busy = False
        self._reading_paused = False
        self._handlers = {
            Connect: self._on_connect, Publish: self.inbound.publish,
            PubAck: self._on_puback, PubRec: self._on_pubrec, PubRel: self.inbound.release,
            PubComp: self._on_pubcomp, Subscribe: self._on_subscribe,
            Unsubscribe: self._on_unsubscribe, PingReq: self._on_pingreq,
            Disconnect: self._on_disconnect, Auth: self._on_auth,
        }

    def __repr__(self) -> str:
        return f"<MQTTSession {self.client_id!r} {self.phase.value}>"

    @property
    def v5(self) -> bool:
        return self.protocol_level == MQTT_5

    # -- from the protocol -----------------------------------------------------------------

    def packet_received(self, packet: Packet) -> None:
        """
        Handle C{packet} now, or after the packets before it.
        """
        self._last_activity = self.clock.seconds()
        if self.phase is Phase.CLOSED:
            return
        if type(packet) is Publish and packet.qos and not self.inbound.admit(packet):
            return
        if self._busy:
            self._backlog.append(packet)
            if len(self._backlog) == _BACKLOG_LIMIT:
                self._reading_paused = True
                self.connection.pause_reading()
            return
        self._handle(packet)

    def protocol_violation(self, error: MalformedPacket) -> None:
        """
        The codec refused the bytes: answer with the reason code and close (MQTT-4.13.1-1).
        """
        self._log.info("closing {client}: {error}", client=self.client_id or self.connection.peer,
                       error=error.message)
        if self.phase is Phase.AWAITING_CONNECT:
            if isinstance(error, UnsupportedProtocolVersion):
                # Answered in the 3.1.1 format, which every version reads (MQTT-3.1.2-2).
                self.protocol_level = MQTT_3_1_1
                self._refuse(error.reason_code, error.message)
            else:
                self._close(None)
        else:
            self.disconnect(error.reason_code, error.message)

    def connection_lost(self) -> None:
        """
        The network connection closed; without a DISCONNECT, the will is published.
        """
        self._end(self.will)

    # -- packet handling -------------------------------------------------------------------

    def _handle(self, packet: Packet) -> None:
        handler = self._handlers.get(type(packet))
        try:
            if handler is None:
                raise ProtocolViolation(ReasonCode.PROTOCOL_ERROR,
                                        f"a client cannot send {packet.packet_type.name}")
            result = handler(packet)
        except ProtocolViolation as violation:
            self.disconnect(violation.reason_code, violation.message)
            return
        if isinstance(result, Deferred):
            self._busy = True
            result.addErrback(self._failed, packet).addBoth(self._handled)

    def _handled(self, result: Any) -> None:
        self._busy = False
        while self._backlog and not self._busy and self.phase is not Phase.CLOSED:
            self._handle(self._backlog.popleft())
        if self._reading_paused and not self._busy and self.phase is not Phase.CLOSED:
            self._reading_paused = False
            self.connection.resume_reading()

    def _failed(self, failure: Failure, packet: Packet) -> None:
        if failure.check(ProtocolViolation):
            self.disconnect(failure.value.reason_code, failure.value.message)
            return
        self._log.failure("handling {packet!r} failed", failure, packet=packet)
        self.disconnect(ReasonCode.UNSPECIFIED_ERROR, "internal error")

    def send(self, packet: Packet) -> None:
        """
        Encode C{packet} for this client and write it.
        """
        if self.phase is not Phase.CLOSED:
            self.connection.send_bytes(encode(packet, self.protocol_level))

    # -- CONNECT ---------------------------------------------------------------------------

    def _on_connect(self, packet: Connect) -> Optional[Deferred]:
        if self.phase is not Phase.AWAITING_CONNECT:
            raise ProtocolViolation(ReasonCode.PROTOCOL_ERROR, "a second CONNECT (MQTT-3.1.0-2)")
        self._cancel_connect_timeout()
        self.phase = Phase.CONNECTING
        self.protocol_level = packet.protocol_level
        properties = packet.properties
        if properties.authentication_method is not None:
            self._refuse(ReasonCode.BAD_AUTHENTICATION_METHOD,
                         "enhanced authentication is not supported")
            return None
        client_id, assigned = packet.client_id, False
        if not client_id:
            if not packet.clean_start and not self.v5:
                self._refuse(ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                             "an empty client identifier needs clean session 1 (MQTT-3.1.3-8)")
                return None
            client_id, assigned = self.broker.assign_client_id(), True
        self.outbound.receive_maximum = properties.receive_maximum or 65535
        self.outbound.alias_maximum = properties.topic_alias_maximum or 0
        self.outbound.maximum_packet_size = properties.maximum_packet_size
        d = self.broker.authenticate(packet.username, packet.password, self.connection.peer,
                                     getattr(self.connection, "certificate_user", None))
        return d.addCallback(self._authenticated, packet, client_id, assigned)

    def _connect_timed_out(self) -> None:
        self._connect_call = None
        self._log.info("closing {peer}: no CONNECT within {timeout} s", peer=self.connection.peer,
                       timeout=self.settings.connect_timeout)
        self._close(None)

    def _cancel_connect_timeout(self) -> None:
        if self._connect_call is not None:
            self._connect_call.cancel()
            self._connect_call = None

    def _expiry(self, packet: Connect) -> int:
        if self.v5:
            return packet.properties.session_expiry_interval or 0
        return 0 if packet.clean_start else NEVER_EXPIRES

    def _authenticated(self, verdict: Any, packet: Connect, client_id: str,
                       assigned: bool) -> Optional[Deferred]:
        if self.phase is Phase.CLOSED:
            return None
        if verdict.failed:
            self._refuse(verdict.code, verdict.reason)
            return None
        self.user, self.client_id = verdict.user, client_id
        self.will = packet.will
        d = self.broker.open_session(self, client_id, packet.clean_start, self._expiry(packet))
        return d.addCallback(self._opened, packet, assigned)

    def _opened(self, opened: tuple[SessionState, bool], packet: Connect, assigned: bool) -> None:
        self.state, present = opened
        if self.phase is Phase.CLOSED:
            # The connection ended while the session was being read.
            self.phase = Phase.CONNECTED
            self._end(None)
            return
        self.phase = Phase.CONNECTED
        self.send(ConnAck(present, ReasonCode.SUCCESS, self._connack_properties(packet, assigned)))
        self._start_keep_alive(packet.keep_alive)
        self.inbound.connected()
        self.outbound.redeliver()

    def _connack_properties(self, packet: Connect, assigned: bool) -> Properties:
        if not self.v5:
            return NO_PROPERTIES
        settings, values = self.settings, {}
        values["receive_maximum"] = settings.receive_maximum
        values["topic_alias_maximum"] = settings.topic_alias_maximum
        if settings.maximum_packet_size:
            values["maximum_packet_size"] = settings.maximum_packet_size
        if assigned:
            values["assigned_client_identifier"] = self.client_id
        keep_alive = self._server_keep_alive(packet.keep_alive)
        if keep_alive != packet.keep_alive:
            values["server_keep_alive"] = keep_alive
        if packet.properties.request_response_information:
            values["response_information"] = f"response/{self.client_id}"
        return Properties(**values)

    def _server_keep_alive(self, requested: int) -> int:
        limit = self.settings.server_keep_alive
        if limit is None or (requested and requested <= limit):
            return requested
        return limit

    def _refuse(self, code: int, reason: Optional[str]) -> None:
        """
        Answer CONNECT with a failure and close (MQTT-3.2.2-7).
        """
        properties = Properties(reason_string=reason) if reason and self.v5 else NO_PROPERTIES
        self.send(ConnAck(False, code, properties))
        self._close(None)

    # -- keep-alive ------------------------------------------------------------------------

    def _start_keep_alive(self, requested: int) -> None:
        self.keep_alive = self._server_keep_alive(requested)
        if self.keep_alive:
            self._keep_alive_call = self.clock.callLater(self.keep_alive * 1.5, self._check_keep_alive)

    def _check_keep_alive(self) -> None:
        limit = self.keep_alive * 1.5
        idle = self.clock.seconds() - self._last_activity
        if idle >= limit:
            self._keep_alive_call = None
            self.disconnect(ReasonCode.KEEP_ALIVE_TIMEOUT,
                            f"nothing received for {limit:g} seconds (MQTT-3.1.2-22)")
        else:
            self._keep_alive_call = self.clock.callLater(limit - idle, self._check_keep_alive)

    # -- other packets ---------------------------------------------------------------------

    def _on_puback(self, packet: PubAck) -> None:
        self.outbound.acknowledged(packet.packet_id, 1)

    def _on_pubrec(self, packet: PubRec) -> None:
        if not self.outbound.received(packet.packet_id, packet.reason_code):
            self.send(PubRel(packet.packet_id, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
                             if self.v5 else ReasonCode.SUCCESS))

    def _on_pubcomp(self, packet: PubComp) -> None:
        self.outbound.acknowledged(packet.packet_id, 2)

    def _on_subscribe(self, packet: Subscribe) -> Any:
        identifiers = packet.properties.subscription_identifiers
        identifier = identifiers[0] if identifiers else None
        subscriptions = [Subscription(topic_filter, options, identifier)
                         for topic_filter, options in packet.subscriptions]
        d = self.broker.subscribe(self, subscriptions)
        return d.addCallback(self._subscribed, packet.packet_id)

    def _subscribed(self, result: tuple[list[int], list[tuple[Subscription, bool]]],
                    packet_id: int) -> None:
        codes, accepted = result
        self.send(SubAck(packet_id, codes))
        self.broker.send_retained(self, accepted)

    def _on_unsubscribe(self, packet: Unsubscribe) -> Any:
        d = self.broker.unsubscribe(self, packet.topic_filters)
        return d.addCallback(lambda codes: self.send(UnsubAck(packet.packet_id, codes if self.v5 else ())))

    def _on_pingreq(self, packet: PingReq) -> None:
        self.send(PingResp())

    def _on_disconnect(self, packet: Disconnect) -> None:
        expiry = packet.properties.session_expiry_interval
        if expiry is not None and self.state is not None:
            if expiry and not self.state.expiry_interval:
                raise ProtocolViolation(ReasonCode.PROTOCOL_ERROR,
                                        "a session expiry set at DISCONNECT on a session that "
                                        "had none (MQTT-3.14.2-2)")
            self.state.expiry_interval = expiry
        keep_will = packet.reason_code == ReasonCode.DISCONNECT_WITH_WILL_MESSAGE
        self._close(self.will if keep_will else None)

    def _on_auth(self, packet: Auth) -> None:
        raise ProtocolViolation(ReasonCode.PROTOCOL_ERROR,
                                "AUTH without an authentication method in CONNECT (MQTT 5 "
                                "section 4.12)")

    # -- the end ---------------------------------------------------------------------------

    def disconnect(self, code: int, reason: Optional[str] = None) -> None:
        """
        Close the connection from the server side, telling an MQTT 5 client why with a
        DISCONNECT (MQTT-4.13.2-1); the will is published.
        """
        if self.phase is Phase.CLOSED:
            return
        if self.v5 and self.phase is Phase.CONNECTED:
            properties = Properties(reason_string=reason) if reason else NO_PROPERTIES
            self.send(Disconnect(code, properties))
        elif self.phase is not Phase.CONNECTED:
            self._refuse(code, reason)
            return
        self._close(self.will)

    def _close(self, will: Optional[Will]) -> None:
        self._end(will)
        self.connection.close()

    def _end(self, will: Optional[Will]) -> None:
        if self.phase is Phase.CLOSED:
            return
        connected = self.phase is Phase.CONNECTED
        self.phase = Phase.CLOSED
        self._backlog.clear()
        self._cancel_connect_timeout()
        if self._keep_alive_call is not None and self._keep_alive_call.active():
            self._keep_alive_call.cancel()
        self._keep_alive_call = None
        if connected:
            self.broker.session_ended(self, will)
