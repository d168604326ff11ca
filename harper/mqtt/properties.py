# -*- test-case-name: tests.mqtt.test_codec -*-
"""
MQTT 5 properties: the table of every property and a frozen, mapping-like value holding them.

Each property has a wire identifier, a data type, the packets it may appear in and, for a few,
the values it may take; L{harper.mqtt.codec} reads and writes them. In Python a property is
named in snake case (C{message_expiry_interval}); the two that may appear more than once are
plural and hold tuples (C{user_properties}, C{subscription_identifiers}).
"""

from __future__ import annotations

import enum
from typing import Any, Container, Iterator, Mapping, Optional

import attr


class PropertyType(enum.Enum):
    """
    The data representations of MQTT 5 section 1.5 that properties use.
    """

    BYTE = "byte"
    TWO_BYTE_INTEGER = "two-byte integer"
    FOUR_BYTE_INTEGER = "four-byte integer"
    VARIABLE_BYTE_INTEGER = "variable byte integer"
    UTF8_STRING = "UTF-8 string"
    UTF8_STRING_PAIR = "UTF-8 string pair"
    BINARY_DATA = "binary data"


#: The largest value of each integer type.
INTEGER_LIMITS = {
    PropertyType.BYTE: 0xFF,
    PropertyType.TWO_BYTE_INTEGER: 0xFFFF,
    PropertyType.FOUR_BYTE_INTEGER: 0xFFFFFFFF,
    PropertyType.VARIABLE_BYTE_INTEGER: 268_435_455,
}

#: The name of the property context of a CONNECT packet's will message ("Will Properties").
WILL = "WILL"


@attr.frozen
class PropertyDefinition:
    """
    One row of the property table (MQTT 5 section 2.2.2.2).

    :ivar identifier: the wire identifier.
    :ivar name: the Python name.
    :ivar type: the data type of one value.
    :ivar packets: the packet type names (C{"PUBLISH"}, ...) and L{WILL} it may appear in.
    :ivar repeatable: the packets in which it may appear more than once; a property that is
        repeatable anywhere always holds a tuple of values.
    :ivar allowed: the values it may take, or C{None} for any value of its type; any other
        value is a protocol error.
    """

    identifier: int
    name: str
    type: PropertyType
    packets: frozenset[str]
    repeatable: frozenset[str] = frozenset()
    allowed: Optional[Container[int]] = None

    @property
    def multiple(self) -> bool:
        """
        Whether the value is a tuple of values.
        """
        return bool(self.repeatable)


_B = PropertyType.BYTE
_I2 = PropertyType.TWO_BYTE_INTEGER
_I4 = PropertyType.FOUR_BYTE_INTEGER
_VBI = PropertyType.VARIABLE_BYTE_INTEGER
_STR = PropertyType.UTF8_STRING
_PAIR = PropertyType.UTF8_STRING_PAIR
_BIN = PropertyType.BINARY_DATA
_FLAG = range(2)
_NON_ZERO = range(1, 2**32)
_MESSAGE = frozenset({"PUBLISH", WILL})
_CONNECT = frozenset({"CONNECT"})
_CONNACK = frozenset({"CONNACK"})
_SETUP = frozenset({"CONNECT", "CONNACK"})
_AUTH = frozenset({"CONNECT", "CONNACK", "AUTH"})
_REASON_STRING = frozenset(
    {"CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT",
     "AUTH"}
)
_USER = _REASON_STRING | {"CONNECT", "PUBLISH", WILL, "SUBSCRIBE", "UNSUBSCRIBE"}


def _define(identifier: int, name: str, type: PropertyType, packets: frozenset[str],
            **options: Any) -> PropertyDefinition:
    return PropertyDefinition(identifier, name, type, packets, **options)


#: Every MQTT 5 property, in identifier order.
PROPERTY_TABLE: tuple[PropertyDefinition, ...] = (
    _define(0x01, "payload_format_indicator", _B, _MESSAGE, allowed=_FLAG),
    _define(0x02, "message_expiry_interval", _I4, _MESSAGE),
    _define(0x03, "content_type", _STR, _MESSAGE),
    _define(0x08, "response_topic", _STR, _MESSAGE),
    _define(0x09, "correlation_data", _BIN, _MESSAGE),
    _define(0x0B, "subscription_identifiers", _VBI, frozenset({"PUBLISH", "SUBSCRIBE"}),
            repeatable=frozenset({"PUBLISH"}), allowed=_NON_ZERO),
    _define(0x11, "session_expiry_interval", _I4, frozenset({"CONNECT", "CONNACK", "DISCONNECT"})),
    _define(0x12, "assigned_client_identifier", _STR, _CONNACK),
    _define(0x13, "server_keep_alive", _I2, _CONNACK),
    _define(0x15, "authentication_method", _STR, _AUTH),
    _define(0x16, "authentication_data", _BIN, _AUTH),
    _define(0x17, "request_problem_information", _B, _CONNECT, allowed=_FLAG),
    _define(0x18, "will_delay_interval", _I4, frozenset({WILL})),
    _define(0x19, "request_response_information", _B, _CONNECT, allowed=_FLAG),
    _define(0x1A, "response_information", _STR, _CONNACK),
    _define(0x1C, "server_reference", _STR, frozenset({"CONNACK", "DISCONNECT"})),
    _define(0x1F, "reason_string", _STR, _REASON_STRING),
    _define(0x21, "receive_maximum", _I2, _SETUP, allowed=_NON_ZERO),
    _define(0x22, "topic_alias_maximum", _I2, _SETUP),
    _define(0x23, "topic_alias", _I2, frozenset({"PUBLISH"}), allowed=_NON_ZERO),
    _define(0x24, "maximum_qos", _B, _CONNACK, allowed=_FLAG),
    _define(0x25, "retain_available", _B, _CONNACK, allowed=_FLAG),
    _define(0x26, "user_properties", _PAIR, _USER, repeatable=_USER),
    _define(0x27, "maximum_packet_size", _I4, _SETUP, allowed=_NON_ZERO),
    _define(0x28, "wildcard_subscription_available", _B, _CONNACK, allowed=_FLAG),
    _define(0x29, "subscription_identifier_available", _B, _CONNACK, allowed=_FLAG),
    _define(0x2A, "shared_subscription_available", _B, _CONNACK, allowed=_FLAG),
)

#: The property table by wire identifier.
BY_IDENTIFIER: Mapping[int, PropertyDefinition] = {d.identifier: d for d in PROPERTY_TABLE}

#: The property table by Python name.
BY_NAME: Mapping[str, PropertyDefinition] = {d.name: d for d in PROPERTY_TABLE}


def _check_one(definition: PropertyDefinition, value: Any) -> None:
    """
    Raise L{ValueError} unless C{value} is one valid value of C{definition}.
    """
    kind = definition.type
    if kind in INTEGER_LIMITS:
        valid = isinstance(value, int) and 0 <= value <= INTEGER_LIMITS[kind]
        valid = valid and (definition.allowed is None or value in definition.allowed)
    elif kind is PropertyType.UTF8_STRING:
        valid = isinstance(value, str)
    elif kind is PropertyType.BINARY_DATA:
        valid = isinstance(value, bytes)
    else:
        valid = (isinstance(value, tuple) and len(value) == 2
                 and all(isinstance(part, str) for part in value))
    if not valid:
        raise ValueError(f"{value!r} is not a valid {definition.name} ({kind.value})")


def _definition(name: str) -> PropertyDefinition:
    """
    Return the definition of the property C{name}, or raise L{ValueError}.
    """
    definition = BY_NAME.get(name)
    if definition is None:
        raise ValueError(f"{name!r} is not an MQTT 5 property")
    return definition


def _checked(name: str, value: Any) -> Any:
    """
    Return C{value} as stored for the property C{name}, or raise L{ValueError}.
    """
    definition = _definition(name)
    if not definition.multiple:
        _check_one(definition, value)
        return value
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a sequence of values, not {value!r}")
    values = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    for one in values:
        _check_one(definition, one)
    return values


class Properties(Mapping[str, Any]):
    """
    The properties of one MQTT 5 packet or will message: an immutable mapping from Python name
    to value that keeps the wire order of repeated properties.

    Every property name is also an attribute, which is C{None} when the property is absent (an
    empty tuple for C{user_properties} and C{subscription_identifiers}), so
    C{properties.topic_alias} reads naturally.

        >>> Properties(topic_alias=3, user_properties=[("k", "v")]).user_properties
        (('k', 'v'),)
    """

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        """
        :param values: property values by Python name; user properties as (name, value)
            pairs. An unknown name or a value outside the property's type raises L{ValueError}.
        """
        checked = {name: _checked(name, value) for name, value in values.items()}
        object.__setattr__(self, "_values", checked)

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Properties:
        """
        Wrap C{values} without checking them: for the codec, which has checked them already.

        :param values: a dict the caller no longer changes.
        """
        properties = cls.__new__(cls)
        object.__setattr__(properties, "_values", values)
        return properties

    def replace(self, **changes: Any) -> Properties:
        """
        Return a copy with some properties changed; C{None} removes a property.
        """
        values = dict(self._values)
        for name, value in changes.items():
            if value is None:
                _definition(name)
                values.pop(name, None)
            else:
                values[name] = _checked(name, value)
        return Properties.trusted(values)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Properties are immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Properties):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return Properties, (), self._values

    def __setstate__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self._values.items())
        return f"Properties({inner})"


def _attribute(name: str, absent: Any) -> property:
    """
    The attribute of L{Properties} that reads property C{name}, C{absent} when it is not set.
    (A class attribute per property is read without the failed lookup that a C{__getattr__}
    fallback costs, several times per message on the broker's hot path.)
    """
    def read(self: Properties) -> Any:
        return self._values.get(name, absent)

    return property(read, doc=f"The {name} property, or {absent!r} when it is absent.")


for _one in PROPERTY_TABLE:
    setattr(Properties, _one.name, _attribute(_one.name, () if _one.multiple else None))
del _one

#: The properties of a packet that has none.
NO_PROPERTIES = Properties()
