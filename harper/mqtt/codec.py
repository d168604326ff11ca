# -*- test-case-name: tests.mqtt.test_codec -*-
"""
The MQTT 3.1.1 and 5.0 wire format without I/O: L{MQTTDecoder} turns a byte stream into
L{harper.mqtt.packets} values, and L{encode} turns a packet back into bytes.

Decoding checks every rule a receiver can check on one packet (reserved bits, UTF-8 rules,
packet identifiers, property placement, ...) and raises L{MalformedPacket} with the reason code
to send before closing the connection. Rules that need session state (topic aliases, in-flight
packet identifiers, a second CONNECT) and topic filter syntax (answered per filter in SUBACK)
are left to the session.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Optional

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
from harper.mqtt.properties import BY_IDENTIFIER, BY_NAME, NO_PROPERTIES, WILL, Properties
from harper.mqtt.properties import PropertyType as _T

#: The largest Remaining Length a fixed header can carry (four bytes of varint).
MAX_REMAINING_LENGTH = 268_435_455

_UINT16 = struct.Struct("!H")
_UINT32 = struct.Struct("!I")
_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]
_PROTOCOL_LEVELS = (MQTT_3_1_1, MQTT_5)
#: Fixed header flags that every packet type but PUBLISH must carry (MQTT-2.1.3-1).
_FLAGS = {kind: 0b0010 if kind in (6, 8, 10) else 0 for kind in PacketType}
#: First bytes valid in both protocol versions once connected.
_COMMON_FIRST_BYTES = frozenset(
    kind << 4 | flags for kind in range(1, 15) for flags in range(16)
    if kind == PacketType.PUBLISH or flags == _FLAGS[kind]
)
#: SUBACK return codes of MQTT 3.1.1 (MQTT-3.9.3-2).
_SUBACK_3_1_1 = frozenset(ReasonCode(code) for code in (0x00, 0x01, 0x02, 0x80))
#: CONNACK return codes of MQTT 3.1.1 closest to each MQTT 5 failure; others become 3.
_RETURN_CODES_3_1_1 = {0x84: 1, 0x85: 2, 0x88: 3, 0x89: 3, 0x86: 4, 0x8C: 4, 0x87: 5, 0x8A: 5}


def _malformed(message: str) -> MalformedPacket:
    return MalformedPacket(ReasonCode.MALFORMED_PACKET, message)


def _protocol_error(message: str) -> MalformedPacket:
    return MalformedPacket(ReasonCode.PROTOCOL_ERROR, message)


def _read_varint(data: bytes, pos: int, end: int) -> Optional[tuple[int, int]]:
    """
    Read a Variable Byte Integer at C{pos}; return it and the position after it, or C{None}
    when C{data} ends first.
    """
    value = 0
    for shift in (0, 7, 14, 21):
        if pos >= end:
            return None
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and shift:
                raise _malformed("variable byte integer not in its shortest form (MQTT-1.5.5-1)")
            return value, pos
    raise _malformed("variable byte integer longer than four bytes (MQTT-1.5.5-1)")


def _check_topic_name(topic: str, what: str, statement: str = "MQTT-3.3.2-2") -> None:
    if "+" in topic or "#" in topic:
        raise _protocol_error(f"{what} {topic!r} contains a wildcard ({statement})")


def _check_response_topic(properties: Properties) -> None:
    if properties.response_topic is not None:
        _check_topic_name(properties.response_topic, "response topic", "MQTT-3.3.2-14")


class _Reader:
    """
    A cursor over the body of one packet, C{data[pos:end]}.
    """

    __slots__ = ("data", "pos", "end", "kind", "what")

    def __init__(self, data: bytes, pos: int, end: int, kind: PacketType) -> None:
        self.data, self.pos, self.end, self.kind, self.what = data, pos, end, kind, kind.name

    def _short(self) -> MalformedPacket:
        return _malformed(f"{self.what} ends before all its fields")

    def take(self, count: int) -> bytes:
        start, stop = self.pos, self.pos + count
        if stop > self.end:
            raise self._short()
        self.pos = stop
        return self.data[start:stop]

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self._short()
        self.pos += 1
        return self.data[self.pos - 1]

    def uint16(self) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise self._short()
        self.pos = pos + 2
        return self.data[pos] << 8 | self.data[pos + 1]

    def uint32(self) -> int:
        return _UINT32.unpack(self.take(4))[0]

    def varint(self) -> int:
        result = _read_varint(self.data, self.pos, self.end)
        if result is None:
            raise self._short()
        value, self.pos = result
        return value

    def utf8(self) -> str:
        try:
            text = self.take(self.uint16()).decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(f"a string in {self.what} is not well-formed UTF-8 "
                             f"(MQTT-1.5.4-1)") from None
        if "\x00" in text:
            raise _malformed(f"a string in {self.what} contains U+0000 (MQTT-1.5.4-2)")
        return text

    def binary(self) -> bytes:
        return self.take(self.uint16())

    def pair(self) -> tuple[str, str]:
        return self.utf8(), self.utf8()

    def at_end(self) -> bool:
        return self.pos >= self.end

    def finish(self) -> None:
        if self.pos != self.end:
            raise _malformed(f"{self.what} has {self.end - self.pos} bytes after its last field")

    def packet_id(self) -> int:
        packet_id = self.uint16()
        if not packet_id:
            raise _protocol_error(f"{self.what} has packet identifier 0 (MQTT-2.2.1-3)")
        return packet_id

    def reason(self, allowed: frozenset[ReasonCode]) -> ReasonCode:
        code = self.byte()
        if code not in allowed:
            raise _protocol_error(f"{self.what} cannot carry reason code 0x{code:02X}")
        return ReasonCode(code)

    def optional_reason_and_properties(self) -> tuple[ReasonCode, Properties]:
        """
        Read the MQTT 5 reason code and properties that may be left out when they are Success
        and empty (acknowledgements, DISCONNECT, AUTH).
        """
        if self.at_end():
            return ReasonCode.SUCCESS, NO_PROPERTIES
        reason = self.reason(REASON_CODES[self.kind])
        return reason, NO_PROPERTIES if self.at_end() else self.properties(self.what)

    def properties(self, context: str) -> Properties:
        """
        Read a property list; C{context} is the packet type name, or L{WILL}.
        """
        length = self.varint()
        end = self.pos + length
        if end > self.end:
            raise _malformed(f"the properties of {self.what} run past its end")
        values: dict[str, Any] = {}
        while self.pos < end:
            definition = BY_IDENTIFIER.get(self.varint())
            if definition is None:
                raise _malformed(f"{self.what} has an unknown property identifier")
            name = definition.name
            if context not in definition.packets:
                raise _protocol_error(f"{name} is not allowed in {context}")
            value = _READERS[definition.type](self)
            if definition.allowed is not None and value not in definition.allowed:
                raise _protocol_error(f"{name} cannot be {value!r}")
            if name in values and context not in definition.repeatable:
                raise _protocol_error(f"{name} appears more than once in {context}")
            if definition.multiple:
                values[name] = values.get(name, ()) + (value,)
            else:
                values[name] = value
        if self.pos != end:
            raise _malformed(f"the last property of {self.what} runs past the property length")
        return Properties.trusted(values) if values else NO_PROPERTIES


_READERS: dict[_T, Callable[[_Reader], Any]] = {
    _T.BYTE: _Reader.byte, _T.TWO_BYTE_INTEGER: _Reader.uint16,
    _T.FOUR_BYTE_INTEGER: _Reader.uint32, _T.VARIABLE_BYTE_INTEGER: _Reader.varint,
    _T.UTF8_STRING: _Reader.utf8, _T.UTF8_STRING_PAIR: _Reader.pair,
    _T.BINARY_DATA: _Reader.binary,
}

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
        if protocol_level not in (None, *_PROTOCOL_LEVELS):
            raise ValueError(f"protocol level must be 4 or 5, not {protocol_level!r}")
        self.protocol_level = protocol_level
        self.max_packet_size = max_packet_size or MAX_REMAINING_LENGTH + 5
        self._buffer = bytearray()
        self._needed = 2
        self._failure: Optional[MalformedPacket] = None
        acknowledgement, subscription_ack = self._acknowledgement, self._subscription_ack
        self._decoders: list[Callable[[_Reader, int], Packet]] = [
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
                header = _read_varint(data, pos + 1, size)
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
            packets.append(decoders[kind - 1](_Reader(data, body, end, kind), first & 0x0F))
            pos = end
        self._needed = 2
        return pos

    def _check_first_byte(self, first: int) -> None:
        kind, flags = first >> 4, first & 0x0F
        if kind == 0 or (kind == PacketType.AUTH and self.protocol_level == MQTT_3_1_1):
            raise _malformed(f"reserved packet type {kind}")
        name = PacketType(kind).name
        if self.protocol_level is None and kind != PacketType.CONNECT:
            raise _protocol_error(f"the first packet must be CONNECT, not {name} (MQTT-3.1.0-1)")
        if kind != PacketType.PUBLISH and flags != _FLAGS[kind]:
            raise _malformed(f"{name} fixed header flags are {flags:04b}, not "
                             f"{_FLAGS[kind]:04b} (MQTT-2.1.3-1)")

    def _connect(self, reader: _Reader, flags: int) -> Connect:
        name, level = reader.utf8(), reader.byte()
        if name != "MQTT" or level not in _PROTOCOL_LEVELS:
            raise UnsupportedProtocolVersion(name, level)
        connect_flags = reader.byte()
        if connect_flags & 0x01:
            raise _malformed("CONNECT reserved flag is not 0 (MQTT-3.1.2-3)")
        will_qos, has_will = connect_flags >> 3 & 3, connect_flags & 0x04
        if will_qos == 3:
            raise _malformed("will QoS is 3 (MQTT-3.1.2-12)")
        if not has_will and connect_flags & 0x38:
            raise _malformed("will QoS or retain set without a will (MQTT-3.1.2-11, MQTT-3.1.2-13)")
        has_username, has_password = connect_flags & 0x80, connect_flags & 0x40
        if has_password and not has_username and level == MQTT_3_1_1:
            raise _malformed("password without a user name (MQTT-3.1.2-22 of MQTT 3.1.1)")
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

    def _will(self, reader: _Reader, level: int, qos: int, retain: int) -> Will:
        properties = reader.properties(WILL) if level == MQTT_5 else NO_PROPERTIES
        topic = reader.utf8()
        _check_topic_name(topic, "will topic")
        if not topic:
            raise _protocol_error("the will topic is empty (MQTT-4.7.3-1)")
        _check_response_topic(properties)
        return Will(topic, reader.binary(), qos, bool(retain), properties)

    def _connack(self, reader: _Reader, flags: int) -> ConnAck:
        session_present = reader.byte()
        if session_present & 0xFE:
            raise _malformed("CONNACK reserved flags are not 0 (section 3.2.2.1)")
        if self.protocol_level == MQTT_5:
            code: int = reader.reason(REASON_CODES[PacketType.CONNACK])
            properties = reader.properties("CONNACK")
        else:
            code, properties = reader.byte(), NO_PROPERTIES
            if code > 5:
                raise _malformed(f"reserved CONNACK return code {code}")
            code = ConnectReturnCode(code)
        if session_present and code:
            raise _protocol_error("session present with a failure code (MQTT-3.2.2-6)")
        reader.finish()
        return ConnAck(bool(session_present), code, properties)

    def _publish(self, reader: _Reader, flags: int) -> Publish:
        qos = flags >> 1 & 3
        if qos == 3:
            raise _malformed("PUBLISH with QoS 3 (MQTT-3.3.1-4)")
        if flags & 0x08 and not qos:
            raise _protocol_error("DUP flag set on a QoS 0 PUBLISH (MQTT-3.3.1-2)")
        topic = reader.utf8()
        _check_topic_name(topic, "PUBLISH topic name")
        packet_id = reader.packet_id() if qos else None
        data, properties = reader.data, NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            if reader.pos < reader.end and not data[reader.pos]:
                reader.pos += 1
            else:
                properties = reader.properties("PUBLISH")
                _check_response_topic(properties)
        if not topic and properties.topic_alias is None:
            raise _protocol_error("PUBLISH without a topic name or topic alias (MQTT-4.7.3-1)")
        return Publish(topic, data[reader.pos:reader.end], qos, bool(flags & 0x01),
                       bool(flags & 0x08), packet_id, properties)

    def _acknowledgement(self, reader: _Reader, flags: int) -> Packet:
        packet_id = reader.packet_id()
        reason, properties = ReasonCode.SUCCESS, NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            reason, properties = reader.optional_reason_and_properties()
        reader.finish()
        return _ACKNOWLEDGEMENTS[reader.kind](packet_id, reason, properties)

    def _subscribe(self, reader: _Reader, flags: int) -> Subscribe:
        packet_id, properties = reader.packet_id(), NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            properties = reader.properties("SUBSCRIBE")
        subscriptions = []
        while not reader.at_end():
            topic_filter = reader.utf8()
            subscriptions.append((topic_filter, self._options(reader.byte())))
        if not subscriptions:
            raise _protocol_error("SUBSCRIBE without a topic filter (MQTT-3.8.3-3 of MQTT "
                                  "3.1.1, MQTT-3.8.3-2 of MQTT 5)")
        return Subscribe(packet_id, subscriptions, properties)

    def _options(self, byte: int) -> SubscriptionOptions:
        reserved = 0xFC if self.protocol_level == MQTT_3_1_1 else 0xC0
        if byte & reserved:
            raise _malformed("reserved subscription option bits are not 0 (MQTT-3.8.3-4 of "
                             "MQTT 3.1.1, MQTT-3.8.3-5 of MQTT 5)")
        qos, retain_handling = byte & 3, byte >> 4 & 3
        if qos == 3 or retain_handling == 3:
            raise _protocol_error("subscription QoS or retain handling is 3")
        return SubscriptionOptions(qos, bool(byte & 0x04), bool(byte & 0x08), retain_handling)

    def _subscription_ack(self, reader: _Reader, flags: int) -> Packet:
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
            raise _protocol_error(f"{reader.kind.name} without a reason code")
        return (SubAck if is_suback else UnsubAck)(packet_id, codes, properties)

    def _unsubscribe(self, reader: _Reader, flags: int) -> Unsubscribe:
        packet_id, properties = reader.packet_id(), NO_PROPERTIES
        if self.protocol_level == MQTT_5:
            properties = reader.properties("UNSUBSCRIBE")
        topic_filters = []
        while not reader.at_end():
            topic_filters.append(reader.utf8())
        if not topic_filters:
            raise _protocol_error("UNSUBSCRIBE without a topic filter (MQTT-3.10.3-2)")
        return Unsubscribe(packet_id, topic_filters, properties)

    def _bare(self, reader: _Reader, flags: int) -> Packet:
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


def encode(packet: Packet, protocol_level: int) -> bytes:
    """
    Return the bytes of C{packet} for a peer speaking C{protocol_level}.

    For an MQTT 3.1.1 peer the MQTT 5 fields (properties, reason codes of acknowledgements
    and DISCONNECT, subscription options other than QoS) are left out; a CONNACK or SUBACK
    failure code becomes the closest 3.1.1 return code.

    :raises ValueError: the packet cannot be written (a QoS 1 PUBLISH without packet id, a
        string longer than 65,535 bytes, AUTH for MQTT 3.1.1, ...).
    """
    if protocol_level not in _PROTOCOL_LEVELS:
        raise ValueError(f"protocol level must be 4 or 5, not {protocol_level!r}")
    v5 = protocol_level == MQTT_5
    if type(packet) is Publish:
        first, body = _publish_header(packet, v5)
        payload = packet.payload
        return _fixed_header(first, len(body) + len(payload)) + body + payload
    writer = _WRITERS.get(type(packet))
    if writer is None:
        raise TypeError(f"{packet!r} is not an MQTT packet")
    body = b"".join(writer(packet, v5))
    kind = packet.packet_type
    return _fixed_header(kind << 4 | _FLAGS[kind], len(body)) + body


def _fixed_header(first: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((first, length))
    if length > MAX_REMAINING_LENGTH:
        raise ValueError(f"a packet of {length} bytes is larger than MQTT allows")
    return bytes((first,)) + _varint(length)


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _uint16(value: int, what: str) -> bytes:
    if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} must be an integer from 0 to 65535, not {value!r}")
    return _UINT16.pack(value)


def _packet_id(value: Optional[int]) -> bytes:
    if not value:
        raise ValueError(f"packet identifier must be from 1 to 65535, not {value!r}")
    return _uint16(value, "packet identifier")


def _binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"binary data of {len(data)} bytes is longer than 65535 bytes")
    return _UINT16.pack(len(data)) + data


def _utf8(text: str) -> bytes:
    if "\x00" in text:
        raise ValueError(f"{text!r} contains U+0000, which MQTT strings cannot hold")
    try:
        return _binary(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{text!r} contains a lone surrogate") from None


def _properties(properties: Properties, context: str) -> bytes:
    if not properties:
        return b"\x00"
    parts = []
    for name, value in properties.items():
        definition = BY_NAME[name]
        if context not in definition.packets:
            raise ValueError(f"{name} is not allowed in {context}")
        values = value if definition.multiple else (value,)
        if len(values) > 1 and context not in definition.repeatable:
            raise ValueError(f"{name} may appear only once in {context}")
        write = _VALUE_WRITERS[definition.type]
        parts.extend(_varint(definition.identifier) + write(one) for one in values)
    body = b"".join(parts)
    return _varint(len(body)) + body


_VALUE_WRITERS: dict[_T, Callable[[Any], bytes]] = {
    _T.BYTE: lambda value: bytes((value,)), _T.TWO_BYTE_INTEGER: _UINT16.pack,
    _T.FOUR_BYTE_INTEGER: _UINT32.pack, _T.VARIABLE_BYTE_INTEGER: _varint,
    _T.UTF8_STRING: _utf8, _T.UTF8_STRING_PAIR: lambda pair: _utf8(pair[0]) + _utf8(pair[1]),
    _T.BINARY_DATA: _binary,
}


def _check_qos(qos: int, what: str) -> int:
    if qos not in (0, 1, 2):
        raise ValueError(f"{what} must be 0, 1 or 2, not {qos!r}")
    return qos


def _reason(packet: Any, allowed: frozenset[ReasonCode]) -> bytes:
    if packet.reason_code not in allowed:
        raise ValueError(f"{type(packet).__name__} cannot carry reason code "
                         f"{packet.reason_code!r}")
    return bytes((packet.reason_code,))


def _optional_reason_and_properties(packet: Any, v5: bool) -> list[bytes]:
    """
    The MQTT 5 reason code and properties, left out when they are Success and empty.
    """
    kind = packet.packet_type
    if not v5 or (not packet.reason_code and not packet.properties):
        return []
    reason = _reason(packet, REASON_CODES[kind])
    return [reason, _properties(packet.properties, kind.name)] if packet.properties else [reason]


def _publish_header(packet: Publish, v5: bool) -> tuple[int, bytes]:
    """
    Return the first byte and the variable header of a PUBLISH.
    """
    qos = _check_qos(packet.qos, "PUBLISH QoS")
    header = _utf8(packet.topic)
    if qos:
        header += _packet_id(packet.packet_id)
    elif packet.dup or packet.packet_id is not None:
        raise ValueError("a QoS 0 PUBLISH has no DUP flag and no packet identifier")
    if v5:
        header += _properties(packet.properties, "PUBLISH")
    return 0x30 | qos << 1 | packet.dup << 3 | packet.retain, header


def _write_connect(packet: Connect, v5: bool) -> list[bytes]:
    level, will = (MQTT_5 if v5 else MQTT_3_1_1), packet.will
    if packet.protocol_level != level:
        raise ValueError(f"a CONNECT for level {packet.protocol_level} encoded for level {level}")
    if packet.password is not None and packet.username is None and not v5:
        raise ValueError("MQTT 3.1.1 does not allow a password without a user name")
    flags = (packet.clean_start << 1 | (packet.username is not None) << 7
             | (packet.password is not None) << 6)
    if will is not None:
        flags |= 0x04 | _check_qos(will.qos, "will QoS") << 3 | will.retain << 5
    parts = [_utf8(packet.protocol_name), bytes((level, flags)),
             _uint16(packet.keep_alive, "keep alive")]
    if v5:
        parts.append(_properties(packet.properties, "CONNECT"))
    parts.append(_utf8(packet.client_id))
    if will is not None:
        if v5:
            parts.append(_properties(will.properties, WILL))
        parts += [_utf8(will.topic), _binary(will.payload)]
    if packet.username is not None:
        parts.append(_utf8(packet.username))
    if packet.password is not None:
        parts.append(_binary(packet.password))
    return parts


def _write_connack(packet: ConnAck, v5: bool) -> list[bytes]:
    if v5:
        return [bytes((packet.session_present,)),
                _reason(packet, REASON_CODES[PacketType.CONNACK]),
                _properties(packet.properties, "CONNACK")]
    code = packet.reason_code
    code = code if code < 0x80 else _RETURN_CODES_3_1_1.get(code, 3)
    return [bytes((packet.session_present, code))]


def _write_acknowledgement(packet: Any, v5: bool) -> list[bytes]:
    return [_packet_id(packet.packet_id), *_optional_reason_and_properties(packet, v5)]


def _write_subscribe(packet: Subscribe, v5: bool) -> list[bytes]:
    if not packet.subscriptions:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    parts = [_packet_id(packet.packet_id)]
    if v5:
        parts.append(_properties(packet.properties, "SUBSCRIBE"))
    for topic_filter, options in packet.subscriptions:
        byte = _check_qos(options.qos, "subscription QoS")
        if options.retain_handling not in (0, 1, 2):
            raise ValueError(f"retain handling must be 0, 1 or 2, not {options.retain_handling!r}")
        if v5:
            byte |= (options.no_local << 2 | options.retain_as_published << 3
                     | options.retain_handling << 4)
        parts += [_utf8(topic_filter), bytes((byte,))]
    return parts


def _write_subscription_ack(packet: Any, v5: bool) -> list[bytes]:
    parts = [_packet_id(packet.packet_id)]
    kind = packet.packet_type
    if v5:
        allowed = REASON_CODES[kind]
        if not all(code in allowed for code in packet.reason_codes):
            raise ValueError(f"{kind.name} cannot carry reason codes {packet.reason_codes!r}")
        parts += [_properties(packet.properties, kind.name), bytes(packet.reason_codes)]
    elif kind == PacketType.SUBACK:
        parts.append(bytes(code if code < 0x80 else 0x80 for code in packet.reason_codes))
    return parts


def _write_unsubscribe(packet: Unsubscribe, v5: bool) -> list[bytes]:
    if not packet.topic_filters:
        raise ValueError("UNSUBSCRIBE needs at least one topic filter")
    parts = [_packet_id(packet.packet_id)]
    if v5:
        parts.append(_properties(packet.properties, "UNSUBSCRIBE"))
    return parts + [_utf8(topic_filter) for topic_filter in packet.topic_filters]


def _write_nothing(packet: Any, v5: bool) -> list[bytes]:
    return []


def _write_auth(packet: Auth, v5: bool) -> list[bytes]:
    if not v5:
        raise ValueError("MQTT 3.1.1 has no AUTH packet")
    return _optional_reason_and_properties(packet, v5)


_WRITERS: dict[type, Callable[[Any, bool], list[bytes]]] = {
    Connect: _write_connect, ConnAck: _write_connack, PubAck: _write_acknowledgement,
    PubRec: _write_acknowledgement, PubRel: _write_acknowledgement,
    PubComp: _write_acknowledgement, Subscribe: _write_subscribe,
    SubAck: _write_subscription_ack, Unsubscribe: _write_unsubscribe,
    UnsubAck: _write_subscription_ack, PingReq: _write_nothing, PingResp: _write_nothing,
    Disconnect: _optional_reason_and_properties, Auth: _write_auth,
}
