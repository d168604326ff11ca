# -*- test-case-name: tests.mqtt.test_session -*-
"""
Messages from one client to the server: incoming topic aliases, the server's Receive Maximum,
the payload format check, and the QoS 1 and 2 acknowledgements, sent only once the broker is
done with the message (stored, for retained messages and resource writes).

QoS 2 is exactly once: the packet identifier of a delivered QoS 2 message is remembered in the
session until PUBREL, and a PUBLISH repeating it is acknowledged without being delivered again
(MQTT-4.3.3-10, method B of MQTT 5 figure 4.3).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from harper.errors import HarperError
from harper.mqtt.message import FORWARDED, Message
from harper.mqtt.packets import PubAck, PubComp, Publish, PubRec, PubRel, ReasonCode
from harper.mqtt.properties import NO_PROPERTIES, Properties
from harper.mqtt.reasons import Outcome, payload_invalid


class ProtocolViolation(HarperError):
    """
    The client broke a rule that needs the session to see: the connection is closed with
    C{reason_code}.
    """

    def __init__(self, reason_code: int, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


def _forwarded(properties: Properties) -> Properties:
    values = {name: properties[name] for name in FORWARDED if name in properties}
    return Properties.trusted(values) if values else NO_PROPERTIES


class InboundFlow:
    """
    The client-to-server half of one connection.

    :param session: the L{harper.mqtt.session.MQTTSession}.
    """

    _log = Logger()

    def __init__(self, session: Any) -> None:
        self._session = session
        self._aliases: dict[int, str] = {}
        self._unacknowledged = 0

    def connected(self) -> None:
        """
        The session is set up: QoS 2 messages awaiting PUBREL from an earlier connection
        count against the Receive Maximum.
        """
        self._unacknowledged = len(self._session.state.inbound_qos2)

    def admit(self, packet: Publish) -> bool:
        """
        Count a QoS 1 or 2 PUBLISH as it arrives; a client that exceeds the server's Receive
        Maximum is disconnected (MQTT-3.3.4-9).
        """
        session = self._session
        state = session.state
        if packet.qos == 2 and state is not None and packet.packet_id in state.inbound_qos2:
            return True
        self._unacknowledged += 1
        if self._unacknowledged > session.settings.receive_maximum:
            session.disconnect(ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
                               f"more than {session.settings.receive_maximum} QoS 1 and 2 "
                               f"messages unacknowledged")
            return False
        return True

    def publish(self, packet: Publish) -> Any:
        """
        Hand the message to the broker; acknowledge it when the broker is done with it.
        """
        session = self._session
        topic = self._topic(packet)
        if packet.qos == 2 and packet.packet_id in session.state.inbound_qos2:
            session.send(PubRec(packet.packet_id))
            return None
        properties = packet.properties
        forwarded, expiry = NO_PROPERTIES, None
        if properties is not NO_PROPERTIES:
            if properties.payload_format_indicator == 1 and not _is_utf8(packet.payload):
                return self._acknowledge(payload_invalid("the payload is not valid UTF-8"), packet)
            forwarded, expiry = _forwarded(properties), properties.message_expiry_interval
        message = Message(topic, packet.payload, packet.qos, packet.retain, forwarded,
                          session.client_id, session.clock.seconds(), expiry)
        outcome = session.broker.publish(session, message)
        if isinstance(outcome, Outcome):
            return self._acknowledge(outcome, packet)
        return outcome.addCallback(self._acknowledge, packet)

    def _topic(self, packet: Publish) -> str:
        properties = packet.properties
        alias = None if properties is NO_PROPERTIES else properties.topic_alias
        if alias is None:
            return packet.topic
        if alias > self._session.settings.topic_alias_maximum:
            raise ProtocolViolation(ReasonCode.TOPIC_ALIAS_INVALID,
                                    f"topic alias {alias} is more than the maximum "
                                    f"{self._session.settings.topic_alias_maximum} (MQTT-3.3.2-9)")
        if packet.topic:
            self._aliases[alias] = packet.topic
            return packet.topic
        topic = self._aliases.get(alias)
        if topic is None:
            raise ProtocolViolation(ReasonCode.PROTOCOL_ERROR,
                                    f"topic alias {alias} was never set on this connection "
                                    f"(MQTT 5 section 3.3.2.3.4)")
        return topic

    def _acknowledge(self, outcome: Outcome, packet: Publish) -> None:
        session = self._session
        if outcome.failed:
            self._log.info("publish from {client} to {topic} refused: {reason}",
                              client=session.client_id, topic=packet.topic, reason=outcome.reason)
        if not packet.qos:
            return
        properties = NO_PROPERTIES
        if outcome.reason and session.v5 and outcome.failed:
            properties = Properties(reason_string=outcome.reason)
        packet_id = packet.packet_id
        if packet.qos == 1:
            self._unacknowledged -= 1
            session.send(PubAck(packet_id, outcome.code, properties))
            return
        if outcome.failed:
            self._unacknowledged -= 1
        else:
            session.state.inbound_qos2.add(packet_id)
        session.send(PubRec(packet_id, outcome.code, properties))

    def release(self, packet: PubRel) -> None:
        """
        PUBREL: forget the packet identifier and complete the exchange with PUBCOMP.
        """
        session = self._session
        inbound = session.state.inbound_qos2
        if packet.packet_id in inbound:
            inbound.discard(packet.packet_id)
            self._unacknowledged -= 1
            session.send(PubComp(packet.packet_id))
        else:
            session.send(PubComp(packet.packet_id, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
                                 if session.v5 else ReasonCode.SUCCESS))


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

