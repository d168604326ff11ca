"""
Tests for L{harper.mqtt.inbound} and L{harper.mqtt.outbound}: the QoS 1 and 2 exchanges in
both directions, in-flight windows, redelivery, topic aliases and the limits of each side.
"""

from __future__ import annotations

import attr
from twisted.trial.unittest import TestCase

from harper.mqtt.packets import (
    MQTT_3_1_1,
    Disconnect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ReasonCode,
)
from harper.mqtt.properties import Properties
from harper.mqtt.session import SessionSettings
from tests.mqtt.wire import Wire

_EXPIRY = Properties(session_expiry_interval=300)


class InboundTests(TestCase):
    """
    Messages from a client.
    """

    def setUp(self) -> None:
        self.wire = Wire(SessionSettings(receive_maximum=2, topic_alias_maximum=2))
        self.subscriber = self.wire.subscriber("sub", "t/#", qos=0)
        self.client = self.wire.client("pub")

    def test_qos1(self) -> None:
        """
        A QoS 1 PUBLISH is acknowledged with PUBACK carrying its packet identifier
        (MQTT-4.3.2-4) after it was delivered.
        """
        self.client.send(Publish("t/1", b"a", qos=1, packet_id=7))
        self.assertEqual(self.client.received(), [PubAck(7)])
        self.assertEqual(self.subscriber.received(), [Publish("t/1", b"a")])

    def test_qos2_exactly_once(self) -> None:
        """
        A QoS 2 PUBLISH gets PUBREC; its retransmission before PUBREL gets PUBREC again and is
        not delivered again; PUBREL gets PUBCOMP (MQTT-4.3.3-10, MQTT-4.3.3-11); after that the
        identifier is free for a new message.
        """
        publish = Publish("t/2", b"b", qos=2, packet_id=9)
        self.client.send(publish)
        self.client.send(Publish("t/2", b"b", qos=2, dup=True, packet_id=9))
        self.assertEqual(self.client.received(), [PubRec(9), PubRec(9)])
        self.client.send(PubRel(9))
        self.assertEqual(self.client.received(), [PubComp(9)])
        self.client.send(publish)
        self.assertEqual(self.subscriber.received(), [Publish("t/2", b"b"), Publish("t/2", b"b")])

    def test_qos2_survives_reconnection(self) -> None:
        """
        The identifiers of QoS 2 messages awaiting PUBREL belong to the session: after a
        reconnection, the retransmitted PUBLISH is not delivered again (MQTT-4.3.3-10).
        """
        client = self.wire.client("durable", properties=_EXPIRY)
        client.send(Publish("t/3", b"c", qos=2, packet_id=4))
        client.lose()
        again = self.wire.client("durable", clean_start=False, properties=_EXPIRY)
        again.send(Publish("t/3", b"c", qos=2, dup=True, packet_id=4), PubRel(4))
        self.assertEqual(again.received(), [PubRec(4), PubComp(4)])
        self.assertEqual(self.subscriber.received(), [Publish("t/3", b"c")])

    def test_unknown_pubrel(self) -> None:
        """
        PUBREL for an unknown identifier gets PUBCOMP 0x92.
        """
        self.client.send(PubRel(5))
        self.assertEqual(self.client.received(), [PubComp(5, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)])

    def test_receive_maximum_exceeded(self) -> None:
        """
        More unacknowledged QoS 2 messages than the server's Receive Maximum: DISCONNECT 0x93
        (MQTT-3.3.4-9).
        """
        for packet_id in (1, 2, 3):
            self.client.send(Publish("t", b"x", qos=2, packet_id=packet_id))
        received = self.client.received()
        self.assertEqual(received[-1].reason_code, ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
        self.assertTrue(self.client.closed)

    def test_topic_alias(self) -> None:
        """
        A topic alias set with a topic stands for it in later PUBLISH packets; an alias above
        the maximum is refused with 0x94 (MQTT-3.3.2-9), one never set with 0x82.
        """
        self.client.send(Publish("t/long", b"1", properties=Properties(topic_alias=2)),
                         Publish("", b"2", properties=Properties(topic_alias=2)))
        self.assertEqual([p.topic for p in self.subscriber.received()], ["t/long", "t/long"])
        self.client.send(Publish("", b"3", properties=Properties(topic_alias=1)))
        self.assertEqual(self.client.received()[0].reason_code, ReasonCode.PROTOCOL_ERROR)
        other = self.wire.client("other")
        other.send(Publish("t", b"4", properties=Properties(topic_alias=3)))
        self.assertEqual(other.received()[0].reason_code, ReasonCode.TOPIC_ALIAS_INVALID)

    def test_payload_format(self) -> None:
        """
        A payload declared UTF-8 that is not gets PUBACK 0x99 and is not delivered.
        """
        self.client.send(Publish("t", b"\xff", qos=1, packet_id=1,
                                 properties=Properties(payload_format_indicator=1)))
        self.assertEqual(self.client.received()[0].reason_code, ReasonCode.PAYLOAD_FORMAT_INVALID)
        self.assertEqual(self.subscriber.received(), [])

    def test_forwarded_properties(self) -> None:
        """
        User properties, content type, response topic and correlation data reach the
        subscriber unchanged (MQTT-3.3.2-16 to MQTT-3.3.2-20); the topic alias does not.
        """
        properties = Properties(user_properties=[("k", "v")], content_type="text/plain",
                                response_topic="t/reply", correlation_data=b"42", topic_alias=1)
        self.client.send(Publish("t/q", b"?", properties=properties))
        [forwarded] = self.subscriber.received()
        self.assertEqual(forwarded.properties, properties.replace(topic_alias=None))


class OutboundTests(TestCase):
    """
    Messages to a client.
    """

    def setUp(self) -> None:
        self.wire = Wire()
        self.publisher = self.wire.client("pub")

    def publish(self, topic: str, payload: bytes, qos: int = 1, **options: object) -> None:
        self.publisher.send(Publish(topic, payload, qos, packet_id=1 if qos else None, **options))
        self.publisher.received()
        if qos == 2:
            self.publisher.send(PubRel(1))
            self.publisher.received()

    def test_in_flight_window(self) -> None:
        """
        A client's Receive Maximum bounds the QoS 1 and 2 messages sent to it and not
        acknowledged (MQTT-3.3.4-7); each PUBACK lets the next one go.
        """
        peer = self.wire.subscriber("sub", "t", properties=Properties(receive_maximum=1))
        self.publish("t", b"1")
        self.publish("t", b"2")
        [first] = peer.received()
        self.assertEqual((first.payload, first.packet_id), (b"1", 1))
        peer.send(PubAck(first.packet_id))
        [second] = peer.received()
        self.assertEqual((second.payload, second.packet_id), (b"2", 2))

    def test_redelivery_after_reconnection(self) -> None:
        """
        Unacknowledged PUBLISH packets are sent again with DUP set, and PUBREL packets again,
        in order, when the client resumes its session (MQTT-4.4.0-1, MQTT-3.3.1-1).
        """
        peer = self.wire.subscriber("sub", "t", qos=2, properties=_EXPIRY)
        self.publish("t", b"1", qos=2)
        self.publish("t", b"2", qos=2)
        first, second = peer.received()
        peer.send(PubRec(first.packet_id))
        self.assertEqual(peer.received(), [PubRel(first.packet_id)])
        peer.lose()
        again = self.wire.client("sub", clean_start=False, properties=_EXPIRY)
        self.assertTrue(again.connack.session_present)
        self.assertEqual(again.received(), [PubRel(first.packet_id),
                                             Publish("t", b"2", 2, dup=True, packet_id=second.packet_id)])
        again.send(PubComp(first.packet_id), PubRec(second.packet_id))
        again.send(PubComp(second.packet_id))
        self.assertEqual(again.received(), [PubRel(second.packet_id)])
        self.assertEqual(self.wire.broker.sessions["sub"].outbound, {})

    def test_refused_pubrec_ends_exchange(self) -> None:
        """
        PUBREC with a failure code ends the QoS 2 exchange without PUBREL.
        """
        peer = self.wire.subscriber("sub", "t", qos=2)
        self.publish("t", b"1", qos=2)
        [message] = peer.received()
        peer.send(PubRec(message.packet_id, ReasonCode.QUOTA_EXCEEDED))
        self.assertEqual(peer.received(), [])
        self.assertEqual(self.wire.broker.sessions["sub"].outbound, {})

    def test_topic_aliases(self) -> None:
        """
        For a client with a Topic Alias Maximum, the server sends each topic once with an
        alias, then only the alias, and never more aliases than allowed (MQTT-3.3.2-10).
        """
        peer = self.wire.subscriber("sub", "t/#", qos=0, properties=Properties(topic_alias_maximum=1))
        for topic in ("t/a", "t/a", "t/b"):
            self.publish(topic, b"x", qos=0)
        sent = [(p.topic, p.properties.topic_alias) for p in peer.received()]
        self.assertEqual(sent, [("t/a", 1), ("", 1), ("t/b", None)])

    def test_maximum_packet_size(self) -> None:
        """
        A message larger than the client's Maximum Packet Size is not sent (MQTT-3.1.2-25).
        """
        peer = self.wire.subscriber("sub", "t", qos=0, properties=Properties(maximum_packet_size=20))
        self.publish("t", b"x" * 30, qos=0)
        self.publish("t", b"small", qos=0)
        self.assertEqual([p.payload for p in peer.received()], [b"small"])

    def test_message_expiry(self) -> None:
        """
        A queued message past its expiry interval is not delivered (MQTT-3.3.2-5); one still
        valid is sent with the time it has left (MQTT-3.3.2-6).
        """
        peer = self.wire.subscriber("sub", "t", properties=_EXPIRY)
        peer.lose()
        self.publish("t", b"short", properties=Properties(message_expiry_interval=5))
        self.publish("t", b"long", properties=Properties(message_expiry_interval=50))
        self.wire.clock.advance(10)
        again = self.wire.client("sub", clean_start=False, properties=_EXPIRY)
        [message] = again.received()
        self.assertEqual((message.payload, message.properties.message_expiry_interval), (b"long", 40))

    def test_shared_encoding_own_packet_ids(self) -> None:
        """
        Subscribers that get the same bytes of a QoS 1 message (encoded once) each get it with
        the packet identifier of their own session.
        """
        first = self.wire.subscriber("first", "t")
        self.publish("t", b"0")
        [earlier] = first.received()
        second = self.wire.subscriber("second", "t")
        self.publish("t", b"1", properties=Properties(content_type="text/plain"))
        [one], [two] = first.received(), second.received()
        self.assertEqual((one.payload, one.packet_id), (b"1", earlier.packet_id + 1))
        self.assertEqual((two.payload, two.packet_id, two.properties.content_type),
                         (b"1", earlier.packet_id, "text/plain"))
        self.assertEqual(attr.evolve(one, packet_id=two.packet_id), two)

    def test_mqtt_3_1_1_subscriber(self) -> None:
        """
        A 3.1.1 subscriber gets MQTT 5 messages without properties.
        """
        peer = self.wire.subscriber("old", "t", level=MQTT_3_1_1)
        self.publish("t", b"x", properties=Properties(user_properties=[("a", "b")]))
        [message] = peer.received()
        self.assertEqual((message.payload, message.qos), (b"x", 1))


class SlowConsumerTests(TestCase):
    """
    A client that stops reading.
    """

    def test_drop(self) -> None:
        """
        Once the transport is paused and the budget is spent, QoS 0 messages are dropped and
        QoS 1 messages wait in the bounded queue; they are sent when it resumes.
        """
        wire = Wire(SessionSettings(max_queued=2))
        peer = wire.subscriber("slow", "t", qos=1)
        publisher = wire.client("pub")
        peer.session.outbound._slow_budget = 10
        peer.protocol.pauseProducing()
        for number in range(3):
            publisher.send(Publish("t", b"q0-%d" % number))
        for number in range(3):
            publisher.send(Publish("t", b"q1-%d" % number, 1, packet_id=number + 1))
        self.assertEqual([p.payload for p in peer.received()], [b"q0-0"])
        peer.protocol.resumeProducing()
        self.assertEqual([p.payload for p in peer.received()], [b"q1-0", b"q1-1"])

    def test_disconnect(self) -> None:
        """
        With the disconnect policy, a client past its budget is disconnected with 0x97.
        """
        wire = Wire(SessionSettings(slow_consumer="disconnect"))
        peer = wire.subscriber("slow", "t", qos=0)
        publisher = wire.client("pub")
        peer.session.outbound._slow_budget = 10
        peer.protocol.pauseProducing()
        publisher.send(Publish("t", b"0123456789"), Publish("t", b"more"))
        self.assertEqual(peer.received()[-1], Disconnect(ReasonCode.QUOTA_EXCEEDED, Properties(
            reason_string="the client reads too slowly")))
        self.assertTrue(peer.closed)
