# -*- test-case-name: tests.mqtt.test_session -*-
"""
The part of an MQTT session that outlives its network connections (MQTT 5 section 4.1): the
subscriptions, the QoS 1 and 2 messages sent and not yet acknowledged, the messages waiting to
be sent, and the QoS 2 packet identifiers received and not yet released.

A L{SessionState} is the hub subscriber of its client: it turns each matching message into a
L{Delivery} and hands it to the live connection, or queues it while the client is away.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional

import attr
from twisted.logger import Logger

from harper.mqtt.message import Delivery, Message
from harper.mqtt.packets import SubscriptionOptions

#: The Session Expiry Interval of a session that never expires (MQTT 5 section 3.1.2.11.2);
#: an MQTT 3.1.1 session with clean session 0 gets it.
NEVER_EXPIRES = 0xFFFFFFFF


@attr.frozen
class Subscription:
    """
    One subscription of a session.

    :ivar topic_filter: as the client gave it (C{$share/...} included).
    :ivar options: the subscription options.
    :ivar identifier: the Subscription Identifier, or C{None}.
    """

    topic_filter: str
    options: SubscriptionOptions = SubscriptionOptions()
    identifier: Optional[int] = None


class InFlight:
    """
    A QoS 1 or 2 message sent to the client and not yet acknowledged.

    :ivar delivery: what was sent.
    :ivar released: for QoS 2, whether PUBREC arrived and PUBREL was sent.
    """

    __slots__ = ("delivery", "released")

    def __init__(self, delivery: Delivery, released: bool = False) -> None:
        self.delivery = delivery
        self.released = released


class SessionState:
    """
    A client's session.

    :ivar client_id: the client identifier.
    :ivar expiry_interval: seconds the session survives its connection; 0 ends it with the
        connection, L{NEVER_EXPIRES} keeps it until the client starts a clean one.
    :ivar subscriptions: by topic filter.
    :ivar outbound: in-flight messages by packet identifier, oldest first.
    :ivar queue: deliveries waiting for a connection or for room in the in-flight window.
    :ivar inbound_qos2: packet identifiers of QoS 2 messages received and not yet released by
        PUBREL (their duplicates are acknowledged and not delivered again).
    :ivar connection: the live L{harper.mqtt.session.MQTTSession}, or C{None}.
    :ivar disconnected_at: clock seconds when the last connection ended, or C{None}.
    :ivar readable: what this session receives of a message from a table change: the
        message, a copy without the attributes the user may not read, or C{None} for a table
        it may not read; set by the broker on each connection.
    :ivar resource_subscriptions: the subscriptions to custom resources by topic filter (live
        only: they are opened again when the client subscribes after a restart).
    :ivar on_queued: called with (state, delivery) when a delivery is queued for a client that
        is away, so the broker can store it.
    """

    _log = Logger()

    def __init__(self, client_id: str, expiry_interval: int = 0, max_queued: int = 1000) -> None:
        self.client_id = client_id
        self.expiry_interval = expiry_interval
        self.max_queued = max_queued
        self.subscriptions: dict[str, Subscription] = {}
        self.outbound: dict[int, InFlight] = {}
        self.queue: deque[Delivery] = deque()
        self.inbound_qos2: set[int] = set()
        self.connection: Any = None
        self.disconnected_at: Optional[float] = None
        self.readable: Callable[[Message], Optional[Message]] = lambda message: None
        self.on_queued: Optional[Callable[[SessionState, Delivery], None]] = None
        self.resource_subscriptions: dict[str, Any] = {}
        self._next_packet_id = 1

    def __repr__(self) -> str:
        return f"<SessionState {self.client_id!r}>"

    @property
    def persistent(self) -> bool:
        """
        Whether the session outlives its connection.
        """
        return self.expiry_interval > 0

    @property
    def available(self) -> bool:
        """
        Whether a client is connected (shared subscriptions prefer such members).
        """
        return self.connection is not None

    def deliver(self, message: Message, topic_filters: tuple[str, ...]) -> None:
        """
        Send C{message}, which matched C{topic_filters}, once, with the highest granted QoS
        and every subscription identifier of those filters (MQTT-3.3.4-2, MQTT-3.3.4-3).
        """
        if message.source is not None:
            message = self.readable(message)
            if message is None:
                return
        qos, retain, identifiers = -1, False, ()
        for topic_filter in topic_filters:
            subscription = self.subscriptions.get(topic_filter)
            if subscription is None:
                continue
            options = subscription.options
            if options.no_local and message.sender == self.client_id:
                continue
            granted = options.qos if options.qos < message.qos else message.qos
            if granted > qos:
                qos = granted
            if options.retain_as_published and message.retain:
                retain = True
            if subscription.identifier:
                identifiers += (subscription.identifier,)
        if qos >= 0:
            self.enqueue(Delivery(message, qos, retain, identifiers))

    def enqueue(self, delivery: Delivery) -> None:
        """
        Hand C{delivery} to the connection, or queue it while the client is away (QoS 0
        messages are not kept for absent clients).
        """
        if self.connection is not None:
            self.connection.outbound.send(delivery)
            return
        if not delivery.qos or not self.persistent:
            return
        if not self.keep(delivery):
            return
        if self.on_queued is not None:
            self.on_queued(self, delivery)

    def keep(self, delivery: Delivery) -> bool:
        """
        Queue C{delivery} unless the queue is full (then it is dropped and logged).
        """
        if len(self.queue) >= self.max_queued:
            self._log.warn("queue of {client} is full ({count} messages): dropping a message "
                           "on {topic}", client=self.client_id, count=len(self.queue),
                           topic=delivery.message.topic)
            return False
        self.queue.append(delivery)
        return True

    def next_packet_id(self) -> int:
        """
        A packet identifier not used by any in-flight message (MQTT-2.2.1-3).
        """
        candidate = self._next_packet_id
        while candidate in self.outbound:
            candidate = candidate % 0xFFFF + 1
        self._next_packet_id = candidate % 0xFFFF + 1
        return candidate

    def to_record(self) -> dict[str, Any]:
        """
        Everything but the queue, as plain values, for the durable store.
        """
        return {
            "client_id": self.client_id,
            "expiry_interval": self.expiry_interval,
            "subscriptions": [
                (s.topic_filter, attr.astuple(s.options), s.identifier)
                for s in self.subscriptions.values()
            ],
            "outbound": [(packet_id, entry.delivery.to_record(), entry.released)
                         for packet_id, entry in self.outbound.items()],
            "inbound_qos2": sorted(self.inbound_qos2),
            "disconnected_at": self.disconnected_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], queue: list[Delivery],
                    max_queued: int = 1000) -> SessionState:
        """
        The session stored by L{to_record}, with its queued deliveries.
        """
        state = cls(record["client_id"], record["expiry_interval"], max_queued)
        for topic_filter, options, identifier in record["subscriptions"]:
            state.subscriptions[topic_filter] = Subscription(
                topic_filter, SubscriptionOptions(*options), identifier)
        for packet_id, delivery, released in record["outbound"]:
            state.outbound[packet_id] = InFlight(Delivery.from_record(delivery), released)
        state.inbound_qos2 = set(record["inbound_qos2"])
        state.disconnected_at = record["disconnected_at"]
        state.queue.extend(queue)
        if state.outbound:
            state._next_packet_id = max(state.outbound) % 0xFFFF + 1
        return state
