# -*- test-case-name: tests.mqtt.test_session -*-
"""
Messages from the server to one connected client: packet identifiers, the in-flight window
the client's Receive Maximum allows, QoS 1 and 2 acknowledgements, redelivery with DUP after a
reconnection, outgoing topic aliases, message expiry, the client's Maximum Packet Size, and
what happens when the client reads too slowly.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.logger import Logger

from harper.mqtt.encoder import encode_publish, with_packet_id
from harper.mqtt.message import Delivery
from harper.mqtt.packets import MQTT_5, PubRel, ReasonCode
from harper.mqtt.properties import NO_PROPERTIES, Properties
from harper.mqtt.state import InFlight, SessionState
from harper.pubsub.payloads import media_type
from harper.pubsub.slow import DISCONNECT, DROP

__all__ = ["DISCONNECT", "DROP", "OutboundFlow"]


class OutboundFlow:
    """
    The server-to-client half of one connection.

    :param session: the L{harper.mqtt.session.MQTTSession} (for its connection, clock, state
        and protocol level).
    :param slow_consumer: L{DROP} (QoS 0 messages are dropped, QoS 1 and 2 wait in the
        bounded session queue) or L{DISCONNECT} (the client is disconnected) once a client that
        stopped reading has C{slow_budget} more bytes written to it.
    :param slow_budget: bytes written to a client after its transport asked to pause before the
        policy applies.
    :ivar receive_maximum: the client's Receive Maximum (MQTT-3.3.4-7).
    :ivar alias_maximum: the client's Topic Alias Maximum (MQTT-3.3.2-9).
    :ivar maximum_packet_size: the client's Maximum Packet Size, or C{None} (MQTT-3.1.2-25).
    """

    _log = Logger()

    def __init__(self, session: Any, slow_consumer: str = DROP, slow_budget: int = 1 << 20) -> None:
        self._session = session
        self._slow_consumer = slow_consumer
        self._slow_budget = slow_budget
        self.receive_maximum = 65535
        self.alias_maximum = 0
        self.maximum_packet_size: Optional[int] = None
        self._aliases: dict[str, int] = {}
        self._paused = False
        self._written_while_paused = 0

    @property
    def state(self) -> SessionState:
        return self._session.state

    @property
    def paused(self) -> bool:
        """
        Whether the transport's buffer is full (the client reads slower than we write).
        """
        return self._paused

    # -- flow control from the transport ---------------------------------------------------

    def pause(self) -> None:
        """
        The transport's buffer is full: the client reads slower than we write. (The transport
        says so on every write while it stays full: the budget starts at the first time.)
        """
        if not self._paused:
            self._paused = True
            self._written_while_paused = 0

    def resume(self) -> None:
        """
        The transport drained its buffer: send what waited.
        """
        self._paused = False
        self.drain()

    # -- sending ---------------------------------------------------------------------------

    def send(self, delivery: Delivery) -> None:
        """
        Send C{delivery} now, or queue it while the in-flight window is full.
        """
        if delivery.qos == 0:
            if not self._paused or self._has_budget():
                self._write(delivery, None)
            return
        if self._paused or len(self.state.outbound) >= self.receive_maximum:
            if not self.state.keep(delivery) and self._slow_consumer == DISCONNECT:
                self._session.disconnect(ReasonCode.QUOTA_EXCEEDED, "too many messages queued")
            return
        self._start(delivery)

    def _has_budget(self) -> bool:
        if self._written_while_paused < self._slow_budget:
            return True
        if self._slow_consumer == DISCONNECT:
            self._session.disconnect(ReasonCode.QUOTA_EXCEEDED, "the client reads too slowly")
        return False

    def _start(self, delivery: Delivery) -> None:
        packet_id = self.state.next_packet_id()
        self.state.outbound[packet_id] = InFlight(delivery)
        if not self._write(delivery, packet_id):
            del self.state.outbound[packet_id]

    def drain(self) -> None:
        """
        Move queued deliveries into the in-flight window while it has room.
        """
        state = self._session.state
        queue = state.queue
        while queue and not self._paused and len(state.outbound) < self.receive_maximum:
            delivery = queue.popleft()
            if delivery.qos:
                self._start(delivery)
            else:
                self._write(delivery, None)

    def redeliver(self) -> None:
        """
        After a reconnection: resend the unacknowledged PUBLISH packets with DUP set and the
        PUBREL packets, in their original order (MQTT-4.4.0-1), then drain the queue.
        """
        for packet_id, entry in list(self.state.outbound.items()):
            if entry.released:
                self._session.send(PubRel(packet_id))
            elif not self._write(entry.delivery, packet_id, dup=True):
                del self.state.outbound[packet_id]
        self.drain()

    # -- acknowledgements from the client --------------------------------------------------

    def acknowledged(self, packet_id: int, qos: int) -> bool:
        """
        PUBACK (C{qos} 1) or PUBCOMP (C{qos} 2) ended the exchange of C{packet_id}.

        :return: C{False} when no such exchange was in flight.
        """
        entry = self.state.outbound.get(packet_id)
        if entry is None or entry.delivery.qos != qos or (qos == 2 and not entry.released):
            return False
        del self.state.outbound[packet_id]
        self.drain()
        return True

    def received(self, packet_id: int, reason_code: int) -> bool:
        """
        PUBREC for C{packet_id}: answer PUBREL, or end the exchange when the client refused
        the message (a reason code of 0x80 or more, MQTT 5 section 4.3.3).

        :return: C{False} when no such QoS 2 exchange was in flight.
        """
        entry = self.state.outbound.get(packet_id)
        if entry is None or entry.delivery.qos != 2:
            return False
        if reason_code >= 0x80:
            del self.state.outbound[packet_id]
            self.drain()
            return True
        entry.released = True
        self._session.send(PubRel(packet_id))
        return True

    # -- encoding --------------------------------------------------------------------------

    def _write(self, delivery: Delivery, packet_id: Optional[int], dup: bool = False) -> bool:
        """
        Encode and write one PUBLISH; C{False} when it was not sent (expired, or larger than
        the client accepts).
        """
        session = self._session
        message = delivery.message
        remaining = None
        if message.expiry_interval is not None:
            remaining = message.remaining_expiry(session.clock.seconds())
            if remaining <= 0:
                return False
        level = session.protocol_level
        content_type = session.content_type
        shared = (not dup and remaining is None and not delivery.subscription_identifiers
                  and not self.alias_maximum)
        if shared:
            key = (level, delivery.retain, content_type, delivery.qos)
            data = message.encoded.get(key)
            if data is None:
                data = message.encoded[key] = self._encode(delivery, packet_id, False, None, level)
            elif packet_id is not None:
                data = with_packet_id(data, packet_id)
        else:
            data = self._encode(delivery, packet_id, dup, remaining, level)
        if self.maximum_packet_size is not None and len(data) > self.maximum_packet_size:
            self._log.info("dropping a message on {topic} for {client}: {size} bytes is more "
                           "than its maximum packet size", topic=message.topic,
                           client=session.client_id, size=len(data))
            return False
        if self._paused:
            self._written_while_paused += len(data)
        session.connection.send_bytes(data)
        return True

    def _encode(self, delivery: Delivery, packet_id: Optional[int], dup: bool,
                remaining: Optional[int], level: int) -> bytes:
        message = delivery.message
        topic, properties = message.topic, NO_PROPERTIES
        content_type = self._session.content_type
        payload = message.payload(content_type)
        if level == MQTT_5:
            topic, properties = self._properties(delivery, remaining, content_type)
        return encode_publish(topic, payload, delivery.qos, delivery.retain, dup, packet_id,
                              properties, level)

    def _properties(self, delivery: Delivery, remaining: Optional[int],
                    content_type: Optional[str]) -> tuple[str, Properties]:
        message = delivery.message
        values = dict(message.properties)
        if remaining is not None:
            values["message_expiry_interval"] = remaining
        if delivery.subscription_identifiers:
            values["subscription_identifiers"] = delivery.subscription_identifiers
        if message.carries_value and message.value is not None:
            values["content_type"] = media_type(content_type)
        topic = message.topic
        if self.alias_maximum:
            alias = self._aliases.get(topic)
            if alias is not None:
                values["topic_alias"], topic = alias, ""
            elif len(self._aliases) < self.alias_maximum:
                values["topic_alias"] = self._aliases[topic] = len(self._aliases) + 1
        return topic, Properties.trusted(values) if values else NO_PROPERTIES
