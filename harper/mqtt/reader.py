# -*- test-case-name: tests.mqtt.test_codec -*-
"""
Reading the fields of one MQTT packet body: L{Reader} is a cursor with one method per MQTT data
representation (MQTT 5 section 1.5), including property lists, raising L{MalformedPacket} on
anything a single packet breaks.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Optional

from harper.mqtt.packets import REASON_CODES, MalformedPacket, PacketType, ReasonCode
from harper.mqtt.properties import BY_IDENTIFIER, NO_PROPERTIES, Properties
from harper.mqtt.properties import PropertyType as _T

_UINT32 = struct.Struct("!I")


def malformed(message: str) -> MalformedPacket:
    """
    A L{MalformedPacket} with reason code Malformed Packet.
    """
    return MalformedPacket(ReasonCode.MALFORMED_PACKET, message)


def protocol_error(message: str) -> MalformedPacket:
    """
    A L{MalformedPacket} with reason code Protocol Error.
    """
    return MalformedPacket(ReasonCode.PROTOCOL_ERROR, message)

def read_varint(data: bytes, pos: int, end: int) -> Optional[tuple[int, int]]:
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
                raise malformed("variable byte integer not in its shortest form (MQTT-1.5.5-1)")
            return value, pos
    raise malformed("variable byte integer longer than four bytes (MQTT-1.5.5-1)")


def check_topic_name(topic: str, what: str, statement: str = "MQTT-3.3.2-2") -> None:
    if "+" in topic or "#" in topic:
        raise protocol_error(f"{what} {topic!r} contains a wildcard ({statement})")


def check_response_topic(properties: Properties) -> None:
    if properties.response_topic is not None:
        check_topic_name(properties.response_topic, "response topic", "MQTT-3.3.2-14")


class Reader:
    """
    A cursor over the body of one packet, C{data[pos:end]}.
    """

    __slots__ = ("data", "pos", "end", "kind", "what")

    def __init__(self, data: bytes, pos: int, end: int, kind: PacketType) -> None:
        self.data, self.pos, self.end, self.kind, self.what = data, pos, end, kind, kind.name

    def _short(self) -> MalformedPacket:
        return malformed(f"{self.what} ends before all its fields")

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
        result = read_varint(self.data, self.pos, self.end)
        if result is None:
            raise self._short()
        value, self.pos = result
        return value

    def utf8(self) -> str:
        try:
            text = self.take(self.uint16()).decode("utf-8")
        except UnicodeDecodeError:
            raise malformed(f"a string in {self.what} is not well-formed UTF-8 "
                             f"(MQTT-1.5.4-1)") from None
        if "\x00" in text:
            raise malformed(f"a string in {self.what} contains U+0000 (MQTT-1.5.4-2)")
        return text

    def binary(self) -> bytes:
        return self.take(self.uint16())

    def pair(self) -> tuple[str, str]:
        return self.utf8(), self.utf8()

    def at_end(self) -> bool:
        return self.pos >= self.end

    def finish(self) -> None:
        if self.pos != self.end:
            raise malformed(f"{self.what} has {self.end - self.pos} bytes after its last field")

    def packet_id(self) -> int:
        packet_id = self.uint16()
        if not packet_id:
            raise protocol_error(f"{self.what} has packet identifier 0 (MQTT-2.2.1-3)")
        return packet_id

    def reason(self, allowed: frozenset[ReasonCode]) -> ReasonCode:
        code = self.byte()
        if code not in allowed:
            raise protocol_error(f"{self.what} cannot carry reason code 0x{code:02X}")
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
            raise malformed(f"the properties of {self.what} run past its end")
        values: dict[str, Any] = {}
        while self.pos < end:
            definition = BY_IDENTIFIER.get(self.varint())
            if definition is None:
                raise malformed(f"{self.what} has an unknown property identifier")
            name = definition.name
            if context not in definition.packets:
                raise protocol_error(f"{name} is not allowed in {context}")
            value = READERS[definition.type](self)
            if definition.allowed is not None and value not in definition.allowed:
                raise protocol_error(f"{name} cannot be {value!r}")
            if name in values and context not in definition.repeatable:
                raise protocol_error(f"{name} appears more than once in {context}")
            if definition.multiple:
                values[name] = values.get(name, ()) + (value,)
            else:
                values[name] = value
        if self.pos != end:
            raise malformed(f"the last property of {self.what} runs past the property length")
        return Properties.trusted(values) if values else NO_PROPERTIES


READERS: dict[_T, Callable[[Reader], Any]] = {
    _T.BYTE: Reader.byte, _T.TWO_BYTE_INTEGER: Reader.uint16,
    _T.FOUR_BYTE_INTEGER: Reader.uint32, _T.VARIABLE_BYTE_INTEGER: Reader.varint,
    _T.UTF8_STRING: Reader.utf8, _T.UTF8_STRING_PAIR: Reader.pair,
    _T.BINARY_DATA: Reader.binary,
}
