# -*- test-case-name: tests.mqtt.test_codec -*-
"""
L{encode}: L{harper.mqtt.packets} values to bytes, for either protocol level.
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
    Disconnect,
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
    UnsubAck,
    Unsubscribe,
)
from harper.mqtt.decoder import FLAGS, MAX_REMAINING_LENGTH, PROTOCOL_LEVELS
from harper.mqtt.properties import BY_NAME, WILL, Properties
from harper.mqtt.properties import PropertyType as _T

_UINT16 = struct.Struct("!H")
_UINT32 = struct.Struct("!I")
_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]
#: CONNACK return codes of MQTT 3.1.1 closest to each MQTT 5 failure; others become 3.
_RETURN_CODES_3_1_1 = {0x84: 1, 0x85: 2, 0x88: 3, 0x89: 3, 0x86: 4, 0x8C: 4, 0x87: 5, 0x8A: 5}


def encode(packet: Packet, protocol_level: int) -> bytes:
    """
    Return the bytes of C{packet} for a peer speaking C{protocol_level}.

    For an MQTT 3.1.1 peer the MQTT 5 fields (properties, reason codes of acknowledgements
    and DISCONNECT, subscription options other than QoS) are left out; a CONNACK or SUBACK
    failure code becomes the closest 3.1.1 return code.

    :raises ValueError: the packet cannot be written (a QoS 1 PUBLISH without packet id, a
        string longer than 65,535 bytes, AUTH for MQTT 3.1.1, ...).
    """
    if protocol_level not in PROTOCOL_LEVELS:
        raise ValueError(f"protocol level must be 4 or 5, not {protocol_level!r}")
    v5 = protocol_level == MQTT_5
    if type(packet) is Publish:
        return _publish(packet.topic, packet.payload, packet.qos, packet.retain, packet.dup,
                        packet.packet_id, packet.properties, v5)
    writer = _WRITERS.get(type(packet))
    if writer is None:
        raise TypeError(f"{packet!r} is not an MQTT packet")
    body = b"".join(writer(packet, v5))
    kind = packet.packet_type
    return _fixed_header(kind << 4 | FLAGS[kind], len(body)) + body


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


def encode_publish(topic: str, payload: bytes, qos: int, retain: bool, dup: bool,
                   packet_id: Optional[int], properties: Properties, protocol_level: int) -> bytes:
    """
    Return the bytes of the PUBLISH packet with these fields (those of L{Publish}), as
    C{encode} does, without making the packet: the broker's path to each subscriber.

    :raises ValueError: as L{encode}.
    """
    if protocol_level not in PROTOCOL_LEVELS:
        raise ValueError(f"protocol level must be 4 or 5, not {protocol_level!r}")
    return _publish(topic, payload, qos, retain, dup, packet_id, properties,
                    protocol_level == MQTT_5)


def with_packet_id(packet: bytes, packet_id: int) -> bytes:
    """
    Return the encoded QoS 1 or 2 PUBLISH C{packet} with its packet identifier replaced by
    C{packet_id}: one encoding of a message serves every subscriber that needs the same bytes.

    :raises ValueError: C{packet_id} is not from 1 to 65535.
    """
    at = 2
    while packet[at - 1] & 0x80:
        at += 1
    at += 2 + _UINT16.unpack_from(packet, at)[0]
    return packet[:at] + _packet_id(packet_id) + packet[at + 2:]


def _publish(topic: str, payload: bytes, qos: int, retain: bool, dup: bool,
             packet_id: Optional[int], properties: Properties, v5: bool) -> bytes:
    _check_qos(qos, "PUBLISH QoS")
    header = _utf8(topic)
    if qos:
        header += _packet_id(packet_id)
    elif dup or packet_id is not None:
        raise ValueError("a QoS 0 PUBLISH has no DUP flag and no packet identifier")
    if v5:
        header += _properties(properties, "PUBLISH")
    first = 0x30 | qos << 1 | dup << 3 | retain
    return _fixed_header(first, len(header) + len(payload)) + header + payload


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
