# -*- test-case-name: tests.mqtt.test_codec -*-
"""
L{MQTTDecoder}: the bytes of one connection to L{harper.mqtt.packets} values.

Decoding checks every rule a receiver can check on one packet (reserved bits, UTF-8 rules,
packet identifiers, property placement, ...) and raises L{MalformedPacket} with the reason code
to send before closing the connection. Rules that need session state (topic aliases, in-flight
packet identifiers, a second CONNECT) and topic filter syntax (answered per filter in SUBACK)
are left to the session.
"""

from __future__ import annotations

from typing import Callable, Optional

from harper.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    REASON_CODES,
    Auth,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Disconnect,
    MalformedPacket,
    Packet,
    PacketType,
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
    SubscriptionOptions,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocolVersion,
    Will,
)
from harper.mqtt.properties import NO_PROPERTIES, WILL
from harper.mqtt.reader import (
    Reader,
    check_response_topic,
    check_topic_name,
    malformed,
    protocol_error,
    read_varint,
)

#: The largest Remaining Length a fixed header can carry (four bytes of varint).
MAX_REMAINING_LENGTH = 268_435_455

PROTOCOL_LEVELS = (MQTT_3_1_1, MQTT_5)
#: Fixed header flags that every packet type but PUBLISH must carry (MQTT-2.1.3-1).
FLAGS = {kind: 0b0010 if kind in (6, 8, 10) else 0 for kind in PacketType}
#: First bytes valid in both protocol versions once connected.
_COMMON_FIRST_BYTES = frozenset(
    kind << 4 | flags for kind in range(1, 15) for flags in range(16)
    if kind == PacketType.PUBLISH or flags == FLAGS[kind]
)
#: SUBACK return codes of MQTT 3.1.1 (MQTT-3.9.3-2).
_SUBACK_3_1_1 = frozenset(ReasonCode(code) for code in (0x00, 0x01, 0x02, 0x80))


_KINDS = [None, *PacketType]
_ACKNOWLEDGEMENTS = {PacketType.PUBACK: PubAck, PacketType.PUBREC: PubRec,
                     PacketType.PUBREL: PubRel, PacketType.PUBCOMP: PubComp}
_BARE = {PacketType.PINGREQ: PingReq, PacketType.PINGRESP: PingResp,
         PacketType.DISCONNECT: Disconnect, PacketType.AUTH: Auth}


class MQTTDecoder:
    """
    Turns the bytes of one connection into packets, buffering partial packets.

    A server-side decoder starts without a protocol level: the first packet must be CONNECT,
    whose level then applies to every later packet. A client-side decoder is given the level it
    asked for. After L{MalformedPacket} the decoder is spent: every later L{feed} raises the
    same error, since the connection must be closed.

    :ivar protocol_level: L{MQTT_3_1_1}, L{MQTT_5}, or C{None} before the CONNECT.
    :ivar max_packet_size: the largest packet accepted, header included, in bytes.
    """

    def __init__(self, protocol_level: Optional[int] = None,
                 max_packet_size: Optional[int] = None) -> None:
        if protocol_level not in (None, *PROTOCOL_LEVELS):
            raise ValueError(f"protocol level must be 4 or 5, not {protocol_level!r}")
        self.protocol_level = protocol_level
        self.max_packet_size = max_packet_size or MAX_REMAINING_LENGTH + 5
        self._buffer = bytearray()
        self._needed = 2
        self._failure: Optional[MalformedPacket] = None
        acknowledgement, subscription_ack = self._acknowledgement, self._subscription_ack
        self._decoders: list[Callable[[Reader, int], Packet]] = [
            self._connect, self._connack, self._publish, acknowledgement, acknowledgement,
            acknowledgement, acknowledgement, self._subscribe, subscription_ack,
            self._unsubscribe, subscription_ack, self._bare, self._bare, self._bare, self._bare,
        ]

    def feed(self, data: bytes) -> list[Packet]:
        """
        Add bytes received from the peer and return the packets they complete, in order.

        :raises MalformedPacket: the stream breaks a rule; its C{packets} attribute holds the
            packets completed before the bad one.
        """
        if self._failure is not None:
            raise self._failure
        if type(data) is not bytes:
            data = bytes(data)
        buffer = self._buffer
        if buffer or len(data) < self._needed:
            buffer += data
            if len(buffer) < self._needed:
                return []
            data = bytes(buffer)
            buffer.clear()
        packets: list[Packet] = []
        try:
            pos = self._decode_all(data, packets)
        except MalformedPacket as failure:
            failure.packets = tuple(packets)
            self._failure = failure
            raise
        if pos < len(data):
            buffer += memoryview(data)[pos:]
        return packets

    def _decode_all(self, data: bytes, packets: list[Packet]) -> int:
        """
        Decode every complete packet of C{data}; return where the incomplete rest starts.
        """
        pos, size, decoders = 0, len(data), self._decoders
        while size - pos >= 2:
            first, length, body = data[pos], data[pos + 1], pos + 2
            if length >= 0x80:
                header = read_varint(data, pos + 1, size)
                if header is None:
                    self._needed = size - pos + 1
                    return pos
                length, body = header
            if first not in _COMMON_FIRST_BYTES or self.protocol_level is None:
                self._check_first_byte(first)
            end = body + length
            if end - pos > self.max_packet_size:
                raise MalformedPacket(ReasonCode.PACKET_TOO_LARGE,
                                      f"a packet of {end - pos} bytes exceeds the maximum "
                                      f"packet size of {self.max_packet_size} bytes")
            if end > size:
                self._needed = end - pos
                return pos
            kind = _KINDS[first >> 4]
            packets.append(decoders[kind - 1](Reader(data, body, end, kind), first & 0x0F))
            pos = end
        self._needed = 2
        return pos

    def _check_first_byte(self, first: int) -> None:
        kind, flags = first >> 4, first & 0x0F
        if kind == 0 or (kind == PacketType.AUTH and self.protocol_level == MQTT_3_1_1):
            raise malformed(f"reserved packet type {kind}")
        name = PacketType(kind).name
        if self.protocol_level is None and kind != PacketType.CONNECT:
            raise protocol_error(f"the first packet must be CONNECT, not {name} (MQTT-3.1.0-1)")
        if kind != PacketType.PUBLISH and flags != FLAGS[kind]:
            raise malformed(f"{name} fixed header flags are {flags:04b}, not "
                             f"{FLAGS[kind]:04b} (MQTT-2.1.3-1)")

    def _connect(self, reader: Reader, flags: int) -> Connect:
        name, level = reader.utf8(), reader.byte()
        if name != "MQTT" or level not in PROTOCOL_LEVELS:
            raise UnsupportedProtocolVersion(name, level)
        connect_flags = reader.byte()
        if connect_flags & 0x01:
            raise malformed("CONNECT reserved flag is not 0 (MQTT-3.1.2-3)")
        will_qos, has_will = connect_flags >> 3 & 3, connect_flags & 0x04
        if will_qos == 3:
            raise malformed("will QoS is 3 (MQTT-3.1.2-12)")
        if not has_will and connect_flags & 0x38:
            raise malformed("will QoS or retain set without a will (MQTT-3.1.2-11, MQTT-3.1.2-13)")
        has_username, has_password = connect_flags & 0x80, connect_flags & 0x40
        if has_password and not has_username and level == MQTT_3_1_1:
            raise malformed("password without a user name (MQTT-3.1.2-22 of MQTT 3.1.1)")
        keep_alive = reader.uint16()
        properties = reader.properties("CONNECT") if level == MQTT_5 else NO_PROPERTIES
        client_id = reader.utf8()
        will = self._will(reader, level, will_qos, connect_flags & 0x20) if has_will else None
        username = reader.utf8() if has_username else None
        password = reader.binary() if has_password else None
        reader.finish()
        if self.protocol_level is None:
            self.protocol_level = level
        return Connect(client_id, bool(connect_flags & 0x02), keep_alive, will, username,
                       password, properties, level, name)

    def _will(self, reader: Reader, level: int, qos: int, retain: int) -> Will:
        properties = reader.properties(WILL) if level == MQTT_5 else NO_PROPERTIES
        topic = reader.utf8()
        check_topic_name(topic, "will topic")
        if not topic:
            raise protocol_error("the will topic is empty (MQTT-4.7.3-1)")
        check_response_topic(properties)
        return Will(topic, reader.binary(), qos, bool(retain), properties)

    def _connack(self, reader: Reader, flags: int) -> ConnAck:
        session_present = reader.byte()
        if session_present & 0xFE:
            raise malformed("CONNACK reserved flags are not 0 (section 3.2.2.1)")
        if self.protocol_level == MQTT_5:
            code: int = reader.reason(REASON_CODES[PacketType.CONNACK])
            properties = reader.properties("CONNACK")
        else:
            code, properties = reader.byte(), NO_PROPERTIES
            if code > 5:
                raise malformed(f"reserved CONNACK return code {code}")
            code = ConnectReturnCode(code)
        if session_present and code:
            raise protocol_error("session present with a failure code (MQTT-3.2.2-6)")
        reader.finish()
        return ConnAck(bool(session_present), code, properties)

    def _publish(self, reader: Reader, flags: int) -> Publish:
        qos = flags >> 1 & 3
        if qos == 3:
            raise malformed("PUBLISH with QoS 3 (MQTT-3.3.1-4)")
        if flags & 0x08 and not qos:
            raise protocol_error("DUP flag set on a QoS 0 PUBLISH (MQTT-3.3.1-2)")
        topic = reader.utf8()
        check_topic_name(topic, "PUBLISH topic name")
        packet_id = reader.packet_id() if qos else None
        data, properties = reader.data, NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            if reader.pos < reader.end and not data[reader.pos]:
                reader.pos += 1
            else:
                properties = reader.properties("PUBLISH")
                check_response_topic(properties)
        if not topic and properties.topic_alias is None:
            raise protocol_error("PUBLISH without a topic name or topic alias (MQTT-4.7.3-1)")
        return Publish(topic, data[reader.pos:reader.end], qos, bool(flags & 0x01),
                       bool(flags & 0x08), packet_id, properties)

    def _acknowledgement(self, reader: Reader, flags: int) -> Packet:
        packet_id = reader.packet_id()
        reason, properties = ReasonCode.SUCCESS, NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            reason, properties = reader.optional_reason_and_properties()
        reader.finish()
        return _ACKNOWLEDGEMENTS[reader.kind](packet_id, reason, properties)

    def _subscribe(self, reader: Reader, flags: int) -> Subscribe:
        packet_id, properties = reader.packet_id(), NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            properties = reader.properties("SUBSCRIBE")
        subscriptions = []
        while not reader.at_end():
            topic_filter = reader.utf8()
            subscriptions.append((topic_filter, self._options(reader.byte())))
        if not subscriptions:
            raise protocol_error("SUBSCRIBE without a topic filter (MQTT-3.8.3-3 of MQTT "
                                  "3.1.1, MQTT-3.8.3-2 of MQTT 5)")
        return Subscribe(packet_id, subscriptions, properties)

    def _options(self, byte: int) -> SubscriptionOptions:
        reserved = 0xFC if self.protocol_level == MQTT_3_1_1 else 0xC0
        if byte & reserved:
            raise malformed("reserved subscription option bits are not 0 (MQTT-3.8.3-4 of "
                             "MQTT 3.1.1, MQTT-3.8.3-5 of MQTT 5)")
        qos, retain_handling = byte & 3, byte >> 4 & 3
        if qos == 3 or retain_handling == 3:
            raise protocol_error("subscription QoS or retain handling is 3")
        return SubscriptionOptions(qos, bool(byte & 0x04), bool(byte & 0x08), retain_handling)

    def _subscription_ack(self, reader: Reader, flags: int) -> Packet:
        packet_id, properties = reader.packet_id(), NO_PROPERTIES
        is_suback = reader.kind == PacketType.SUBACK
        allowed = REASON_CODES[reader.kind]
        if self.protocol_level == MQTT_5:
            properties = reader.properties(reader.kind.name)
        elif is_suback:
            allowed = _SUBACK_3_1_1
        else:
            reader.finish()
            return UnsubAck(packet_id)
        codes = []
        while not reader.at_end():
            codes.append(reader.reason(allowed))
        if not codes:
            raise protocol_error(f"{reader.kind.name} without a reason code")
        return (SubAck if is_suback else UnsubAck)(packet_id, codes, properties)

    def _unsubscribe(self, reader: Reader, flags: int) -> Unsubscribe:
        packet_id, properties = reader.packet_id(), NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            properties = reader.properties("UNSUBSCRIBE")
        topic_filters = []
        while not reader.at_end():
            topic_filters.append(reader.utf8())
        if not topic_filters:
            raise protocol_error("UNSUBSCRIBE without a topic filter (MQTT-3.10.3-2)")
        return Unsubscribe(packet_id, topic_filters, properties)

    def _bare(self, reader: Reader, flags: int) -> Packet:
        """
        PINGREQ, PINGRESP, and DISCONNECT and AUTH, which carry an optional MQTT 5 reason code
        and properties.
        """
        cls = _BARE[reader.kind]
        if self.protocol_level == MQTT_3_1_1 or cls in (PingReq, PingResp):
            reader.finish()
            return cls()
        reason, properties = reader.optional_reason_and_properties()
        reader.finish()
        return cls(reason, properties)
