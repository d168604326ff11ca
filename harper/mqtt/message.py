# -*- test-case-name: tests.mqtt.test_flows -*-
"""
Application messages inside the broker: L{Message} is what was published (once, shared by
every subscriber), L{Delivery} is one subscriber's copy of it (granted QoS, RETAIN flag,
subscription identifiers).

A message published by a client carries its payload bytes. A message made from a change of a
resource carries the record value instead, encoded in each subscriber's content type when it is
sent.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from harper.mqtt.properties import NO_PROPERTIES, Properties
from harper.pubsub.payloads import encode_payload, media_type

#: Properties of a received PUBLISH that are forwarded to subscribers (MQTT-3.3.2-4 and the
#: following statements); topic aliases and subscription identifiers are per connection.
FORWARDED = ("payload_format_indicator", "content_type", "response_topic", "correlation_data",
             "user_properties")

_NO_VALUE = object()


class Message:
    """
    One application message.

    :ivar topic: its topic name.
    :ivar qos: the QoS it was published with.
    :ivar retain: its RETAIN flag as published.
    :ivar properties: the forwarded properties (see L{FORWARDED}).
    :ivar sender: the client identifier of the publisher, or C{None} for messages from
        resources (for the No Local option).
    :ivar created: clock seconds when the broker received it.
    :ivar expiry_interval: the Message Expiry Interval in seconds it was published with, or
        C{None} for a message that does not expire.
    :ivar value: the value of a message made from a resource change (see L{carries_value}).
    :ivar source: the (database, table) of a message made from a table change, whose readers
        need the read permission on that table; C{None} for other messages.
    :ivar key: identifies the message across the worker processes of a daemon (the same on
        every worker that routes it), so that a stored session queues it once; C{None} until
        the broker routes it.
    """

    __slots__ = ("topic", "_payload", "qos", "retain", "properties", "sender", "created",
                 "expiry_interval", "value", "source", "key", "_payloads", "encoded")

    def __init__(self, topic: str, payload: bytes = b"", qos: int = 0, retain: bool = False,
                 properties: Properties = NO_PROPERTIES, sender: Optional[str] = None,
                 created: float = 0.0, expiry_interval: Optional[int] = None,
                 value: Any = _NO_VALUE) -> None:
        self.topic = topic
        self._payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.sender = sender
        self.created = created
        self.expiry_interval = expiry_interval
        self.value = value
        self.source: Optional[tuple[str, str]] = None
        self.key: Optional[str] = None
        self._payloads: Optional[dict[str, bytes]] = None
        #: Encoded PUBLISH packets by (protocol level, retain, content type, QoS), shared by
        #: subscribers that need the same bytes (with their own packet identifier for QoS 1
        #: and 2).
        self.encoded: dict[tuple, bytes] = {}

    @classmethod
    def of_value(cls, topic: str, value: Any, created: float, retain: bool = True,
                 source: Optional[tuple[str, str]] = None) -> Message:
        """
        A message carrying a resource's C{value} (C{None} for a deleted record, sent as an
        empty payload), with QoS 2 so that each subscriber gets the QoS it asked for.
        """
        message = cls(topic, qos=2, retain=retain, created=created, value=value)
        message.source = source
        return message

    @property
    def carries_value(self) -> bool:
        """
        Whether the payload is a value encoded per subscriber.
        """
        return self.value is not _NO_VALUE

    def payload(self, content_type: Optional[str] = None) -> bytes:
        """
        The payload bytes; for a value, encoded in C{content_type} (JSON by default).
        """
        if self.value is _NO_VALUE:
            return self._payload
        if self.value is None:
            return b""
        kind = media_type(content_type)
        payloads = self._payloads
        if payloads is None:
            payloads = self._payloads = {}
        data = payloads.get(kind)
        if data is None:
            data = payloads[kind] = encode_payload(self.value, kind)
        return data

    def expires_at(self) -> Optional[float]:
        """
        Clock seconds after which the message must not be delivered, or C{None}.
        """
        if self.expiry_interval is None:
            return None
        return self.created + self.expiry_interval

    def remaining_expiry(self, now: float) -> Optional[int]:
        """
        The Message Expiry Interval to forward at C{now} (MQTT-3.3.2-6), or C{None}; 0 or
        less means the message has expired.
        """
        if self.expiry_interval is None:
            return None
        return int(self.created + self.expiry_interval - now)

    def to_record(self) -> dict[str, Any]:
        """
        The message as plain values, for the durable store.
        """
        properties = dict(self.properties)
        if self.carries_value and self.value is not None:
            properties["content_type"] = "application/json"
        return {"topic": self.topic, "payload": self.payload(), "qos": self.qos,
                "retain": self.retain, "properties": properties,
                "sender": self.sender, "created": self.created,
                "expiry_interval": self.expiry_interval, "key": self.key}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Message:
        """
        The message stored by L{to_record}.
        """
        message = cls(record["topic"], record["payload"], record["qos"], record["retain"],
                      Properties(**record["properties"]), record["sender"], record["created"],
                      record["expiry_interval"])
        message.key = record.get("key")
        return message

    def __repr__(self) -> str:
        return f"<Message {self.topic!r} qos={self.qos} retain={self.retain}>"


@attr.define
class Delivery:
    """
    One subscriber's copy of a message (not frozen: a frozen class costs a C{__setattr__}
    call per field to make, once per message and subscriber).

    :ivar message: the message.
    :ivar qos: the QoS it is sent with (the lower of the message's and the subscription's).
    :ivar retain: the RETAIN flag it is sent with.
    :ivar subscription_identifiers: of the subscriptions it matched (MQTT-3.3.4-3).
    """

    message: Message
    qos: int
    retain: bool = False
    subscription_identifiers: tuple[int, ...] = ()

    def to_record(self) -> dict[str, Any]:
        """
        The delivery as plain values, for the durable store.
        """
        return {"message": self.message.to_record(), "qos": self.qos, "retain": self.retain,
                "ids": self.subscription_identifiers}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Delivery:
        """
        The delivery stored by L{to_record}.
        """
        return cls(Message.from_record(record["message"]), record["qos"], record["retain"],
                   tuple(record["ids"]))
