# -*- test-case-name: tests.mqtt.test_codec -*-
"""
MQTT control packets as frozen values, one class per packet type, for protocol levels 4
(MQTT 3.1.1) and 5 (MQTT 5.0).

The classes carry the union of both versions' fields; L{harper.mqtt.codec} omits the MQTT 5
ones (properties, most reason codes) when it writes for a 3.1.1 peer, and fills them with their
defaults when it reads from one. Reason codes are plain integers; the codec hands out members of
L{ReasonCode} (or L{ConnectReturnCode} for a 3.1.1 CONNACK) so they print by name.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Optional, Union

import attr

from harper.errors import InvalidInput
from harper.mqtt.properties import NO_PROPERTIES, Properties

#: Protocol level of MQTT 3.1.1.
MQTT_3_1_1 = 4

#: Protocol level of MQTT 5.0.
MQTT_5 = 5


class PacketType(enum.IntEnum):
    """
    The control packet types of the fixed header (MQTT 5 section 2.1.2); 0 is reserved, and
    so is 15 (AUTH) in MQTT 3.1.1.
    """

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


class ReasonCode(enum.IntEnum):
    """
    MQTT 5 reason codes (section 2.4); several share the value 0.
    """

    SUCCESS = 0x00
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2


def _codes(*values: int) -> frozenset[ReasonCode]:
    return frozenset(ReasonCode(value) for value in values)


_FAILURES_TO_PUBLISH = (0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99)

#: The MQTT 5 reason codes each packet type may carry (MQTT 5 section 2.4 and each packet's
#: section); any other value is a protocol error.
REASON_CODES: dict[PacketType, frozenset[ReasonCode]] = {
    PacketType.CONNACK: _codes(0x00, *range(0x80, 0x8B), 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A,
                               0x9B, 0x9C, 0x9D, 0x9F),
    PacketType.PUBACK: _codes(0x00, 0x10, *_FAILURES_TO_PUBLISH),
    PacketType.PUBREC: _codes(0x00, 0x10, *_FAILURES_TO_PUBLISH),
    PacketType.PUBREL: _codes(0x00, 0x92),
    PacketType.PUBCOMP: _codes(0x00, 0x92),
    PacketType.SUBACK: _codes(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1,
                              0xA2),
    PacketType.UNSUBACK: _codes(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91),
    PacketType.DISCONNECT: _codes(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89,
                                  *range(0x8B, 0x91), *range(0x93, 0xA3)),
    PacketType.AUTH: _codes(0x00, 0x18, 0x19),
}


class ConnectReturnCode(enum.IntEnum):
    """
    MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
    """

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USER_NAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


class RetainHandling(enum.IntEnum):
    """
    When the server sends retained messages for a new subscription (MQTT 5 section 3.8.3.1).
    """

    SEND_ON_SUBSCRIBE = 0
    SEND_IF_NEW_SUBSCRIPTION = 1
    DO_NOT_SEND = 2


class MalformedPacket(InvalidInput):
    """
    Bytes that do not decode to a valid packet; the connection must be closed.

    :ivar reason_code: the MQTT 5 reason code to send in the CONNACK or DISCONNECT before closing
        (L{ReasonCode.MALFORMED_PACKET}, L{ReasonCode.PROTOCOL_ERROR},
        L{ReasonCode.PACKET_TOO_LARGE}, ...).
    :ivar message: what is wrong, for the log and the DISCONNECT reason string.
    :ivar packets: the valid packets decoded from the same call before the bad one; handle them
        before closing.
    """

    def __init__(self, reason_code: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.packets: tuple[Packet, ...] = ()


class UnsupportedProtocolVersion(MalformedPacket):
    """
    A CONNECT for a protocol other than MQTT 3.1.1 or 5.0: the server answers CONNACK with
    return code 0x01 (3.1.1 format, MQTT-3.1.2-2 of 3.1.1) or reason code 0x84 (MQTT 5) and
    closes the connection.

    :ivar protocol_name: the protocol name the client sent.
    :ivar protocol_level: the protocol level the client sent.
    """

    def __init__(self, protocol_name: str, protocol_level: int) -> None:
        super().__init__(
            ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
            f"unsupported protocol {protocol_name!r} level {protocol_level}",
        )
        self.protocol_name = protocol_name
        self.protocol_level = protocol_level


@attr.frozen
class Will:
    """
    The will message of a CONNECT.

    :ivar topic: the topic name to publish it on.
    :ivar payload: the message.
    :ivar qos: 0, 1 or 2.
    :ivar retain: whether it is published as a retained message.
    :ivar properties: its MQTT 5 will properties.
    """

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@attr.frozen
class Connect:
    """
    CONNECT: a client opens a session.

    :ivar clean_start: "clean session" in MQTT 3.1.1.
    :ivar keep_alive: in seconds; 0 turns the keep-alive mechanism off.
    :ivar client_id: may be empty, asking the server to assign one.
    :ivar password: MQTT 3.1.1 only allows it with a user name.
    """

    packet_type: ClassVar[PacketType] = PacketType.CONNECT
    client_id: str = ""
    clean_start: bool = True
    keep_alive: int = 0
    will: Optional[Will] = None
    username: Optional[str] = None
    password: Optional[bytes] = None
    properties: Properties = NO_PROPERTIES
    protocol_level: int = MQTT_5
    protocol_name: str = "MQTT"


@attr.frozen
class ConnAck:
    """
    CONNACK: the server's answer to CONNECT.

    :ivar reason_code: a L{ReasonCode}; written for a 3.1.1 peer as the closest
        L{ConnectReturnCode}, and read from one as the L{ConnectReturnCode} it sent.
    """

    packet_type: ClassVar[PacketType] = PacketType.CONNACK
    session_present: bool = False
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@attr.frozen
class Publish:
    """
    PUBLISH: an application message.

    :ivar topic: empty only in MQTT 5 with a C{topic_alias} property.
    :ivar packet_id: required for QoS 1 and 2, C{None} for QoS 0.
    """

    packet_type: ClassVar[PacketType] = PacketType.PUBLISH
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: Optional[int] = None
    properties: Properties = NO_PROPERTIES


@attr.frozen
class _Acknowledgement:
    """
    The shape shared by PUBACK, PUBREC, PUBREL and PUBCOMP; the reason code and properties
    exist in MQTT 5 only.
    """

    packet_id: int
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


@attr.frozen
class PubAck(_Acknowledgement):
    """
    PUBACK: acknowledges a QoS 1 PUBLISH.
    """

    packet_type: ClassVar[PacketType] = PacketType.PUBACK


@attr.frozen
class PubRec(_Acknowledgement):
    """
    PUBREC: first acknowledgement of a QoS 2 PUBLISH.
    """

    packet_type: ClassVar[PacketType] = PacketType.PUBREC


@attr.frozen
class PubRel(_Acknowledgement):
    """
    PUBREL: releases a QoS 2 message after PUBREC.
    """

    packet_type: ClassVar[PacketType] = PacketType.PUBREL


@attr.frozen
class PubComp(_Acknowledgement):
    """
    PUBCOMP: completes a QoS 2 exchange.
    """

    packet_type: ClassVar[PacketType] = PacketType.PUBCOMP


@attr.frozen
class SubscriptionOptions:
    """
    The options byte of one SUBSCRIBE entry; MQTT 3.1.1 has the QoS only.

    :ivar qos: the maximum QoS the client accepts for this subscription.
    :ivar no_local: do not send the client its own messages back.
    :ivar retain_as_published: keep the RETAIN flag of forwarded messages.
    :ivar retain_handling: a L{RetainHandling}.
    """

    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = RetainHandling.SEND_ON_SUBSCRIBE


@attr.frozen
class Subscribe:
    """
    SUBSCRIBE: add subscriptions.

    :ivar subscriptions: (topic filter, L{SubscriptionOptions}) pairs, at least one.
    """

    packet_type: ClassVar[PacketType] = PacketType.SUBSCRIBE
    packet_id: int
    subscriptions: tuple[tuple[str, SubscriptionOptions], ...] = attr.field(converter=tuple)
    properties: Properties = NO_PROPERTIES


@attr.frozen
class SubAck:
    """
    SUBACK: one reason code per requested subscription (the granted QoS, or a failure; 3.1.1
    only has 0, 1, 2 and 0x80).
    """

    packet_type: ClassVar[PacketType] = PacketType.SUBACK
    packet_id: int
    reason_codes: tuple[int, ...] = attr.field(converter=tuple)
    properties: Properties = NO_PROPERTIES


@attr.frozen
class Unsubscribe:
    """
    UNSUBSCRIBE: remove subscriptions.

    :ivar topic_filters: at least one.
    """

    packet_type: ClassVar[PacketType] = PacketType.UNSUBSCRIBE
    packet_id: int
    topic_filters: tuple[str, ...] = attr.field(converter=tuple)
    properties: Properties = NO_PROPERTIES


@attr.frozen
class UnsubAck:
    """
    UNSUBACK: acknowledges an UNSUBSCRIBE; the reason codes (one per topic filter) and the
    properties exist in MQTT 5 only.
    """

    packet_type: ClassVar[PacketType] = PacketType.UNSUBACK
    packet_id: int
    reason_codes: tuple[int, ...] = attr.field(default=(), converter=tuple)
    properties: Properties = NO_PROPERTIES


@attr.frozen
class PingReq:
    """
    PINGREQ: a keep-alive probe.
    """

    packet_type: ClassVar[PacketType] = PacketType.PINGREQ


@attr.frozen
class PingResp:
    """
    PINGRESP: the answer to PINGREQ.
    """

    packet_type: ClassVar[PacketType] = PacketType.PINGRESP


@attr.frozen
class Disconnect:
    """
    DISCONNECT: the end of a connection; the reason code and properties exist in MQTT 5 only,
    where the server may send it too.
    """

    packet_type: ClassVar[PacketType] = PacketType.DISCONNECT
    reason_code: int = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = NO_PROPERTIES


@attr.frozen
class Auth:
    """
    AUTH: a step of MQTT 5 enhanced authentication (there is no AUTH in MQTT 3.1.1).
    """

    packet_type: ClassVar[PacketType] = PacketType.AUTH
    reason_code: int = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES


#: Any control packet.
Packet = Union[
    Connect, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck, Unsubscribe,
    UnsubAck, PingReq, PingResp, Disconnect, Auth,
]
