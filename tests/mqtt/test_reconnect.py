"""
QoS 1 and 2 across forced reconnections, message expiry for an absent client, and a client
that sends garbage, all over loopback sockets: a client written with our codec on a plain
socket (to drop the connection at a chosen point of a QoS exchange) next to paho-mqtt clients.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import defer
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from harper.mqtt.codec import MQTTDecoder, encode
from harper.mqtt.packets import (
    MQTT_5, ConnAck, Connect, Disconnect, Packet, PubAck, PubComp, Publish, PubRec, PubRel,
    Subscribe, SubscriptionOptions,
)
from harper.mqtt.properties import Properties
from tests.mqtt.helpers import V5, Client, pause, properties, serve

_EXPIRY = Properties(session_expiry_interval=300)


class RawClient:
    """
    An MQTT 5 client on a blocking socket: packets in, packets out, and an abrupt end.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.decoder = MQTTDecoder(MQTT_5)
        self.pending: list[Packet] = []

    def send(self, *packets: Packet) -> None:
        self.sock.sendall(b"".join(encode(packet, MQTT_5) for packet in packets))

    def receive(self, count: int) -> list[Packet]:
        """
        The next C{count} packets (blocking).
        """
        while len(self.pending) < count:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"the server closed the connection after {self.pending}")
            self.pending += self.decoder.feed(data)
        packets, self.pending = self.pending[:count], self.pending[count:]
        return packets

    def closed(self) -> bool:
        """
        Whether the server closes the connection (reading what it sent before).
        """
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return True

    def drop(self) -> None:
        self.sock.close()


def connected(port: int, client_id: str, clean_start: bool) -> tuple[RawClient, ConnAck]:
    """
    A raw client that connected as C{client_id} with a 300 second session (blocking).
    """
    client = RawClient(port)
    client.send(Connect(client_id, clean_start, properties=_EXPIRY))
    [connack] = client.receive(1)
    return client, connack


class ReconnectTests(TestCase):
    """
    A broker over plain topics on a loopback port.
    """

    timeout = 30

    def setUp(self) -> None:
        self.broker, self.port, _ = serve(self)

    def raw(self, client_id: str, clean_start: bool = True) -> defer.Deferred:
        d = deferToThread(connected, self.port, client_id, clean_start)
        return d.addCallback(lambda result: (self.addCleanup(result[0].drop), result)[1])

    @defer.inlineCallbacks
    def test_server_to_client(self) -> Any:
        """
        A subscriber drops its connection with a QoS 1 message unacknowledged and a QoS 2
        message released but not completed; after it resumes its session it gets the QoS 1
        message again with DUP, only the PUBREL of the QoS 2 one (no second copy), then the
        QoS 2 message published while it was away (MQTT-4.4.0-1).
        """
        subscriber, _ = yield self.raw("sub")
        subscriber.send(Subscribe(1, [("q/#", SubscriptionOptions(2))]))
        yield deferToThread(subscriber.receive, 1)
        publisher = Client(self, self.port, "pub", V5)
        yield publisher.connect()
        yield publisher.publish("q/1", b"one", 1)
        yield publisher.publish("q/2", b"two", 2)
        first, second = yield deferToThread(subscriber.receive, 2)
        self.assertEqual([(p.topic, p.qos, p.dup) for p in (first, second)],
                         [("q/1", 1, False), ("q/2", 2, False)])
        subscriber.send(PubRec(second.packet_id))
        [release] = yield deferToThread(subscriber.receive, 1)
        self.assertEqual(release, PubRel(second.packet_id))
        subscriber.drop()
        yield pause(0.2)
        yield publisher.publish("q/3", b"three", 2)
        again, connack = yield self.raw("sub", clean_start=False)
        self.assertTrue(connack.session_present)
        resent, released, third = yield deferToThread(again.receive, 3)
        self.assertEqual((resent.topic, resent.payload, resent.packet_id, resent.dup),
                         ("q/1", b"one", first.packet_id, True))
        self.assertEqual(released, PubRel(second.packet_id))
        self.assertEqual((third.topic, third.qos, third.dup), ("q/3", 2, False))
        again.send(PubAck(resent.packet_id), PubComp(second.packet_id), PubRec(third.packet_id))
        [release] = yield deferToThread(again.receive, 1)
        self.assertEqual(release, PubRel(third.packet_id))
        again.send(PubComp(third.packet_id))
        yield pause(0.2)
        self.assertEqual(again.pending, [])
        self.assertEqual(self.broker.sessions["sub"].outbound, {})

    @defer.inlineCallbacks
    def test_client_to_server_exactly_once(self) -> Any:
        """
        A publisher drops its connection after PUBREC of a QoS 2 message; it resumes its
        session and sends the PUBLISH again with DUP: the server acknowledges it without
        delivering it a second time, and completes the exchange (MQTT-4.3.3-10).
        """
        sink = Client(self, self.port, "sink", V5)
        yield sink.connect()
        yield sink.subscribe("in/#", qos=2)
        publisher, _ = yield self.raw("pub")
        message = Publish("in/1", b"once", 2, packet_id=7)
        publisher.send(message)
        [received] = yield deferToThread(publisher.receive, 1)
        self.assertEqual(received, PubRec(7))
        publisher.drop()
        again, connack = yield self.raw("pub", clean_start=False)
        self.assertTrue(connack.session_present)
        again.send(Publish("in/1", b"once", 2, dup=True, packet_id=7))
        [received] = yield deferToThread(again.receive, 1)
        self.assertEqual(received, PubRec(7))
        again.send(PubRel(7))
        [received] = yield deferToThread(again.receive, 1)
        self.assertEqual(received, PubComp(7))
        yield sink.wait_for(1)
        yield pause(0.2)
        self.assertEqual([m[:3] for m in sink.messages], [("in/1", b"once", 2)])

    @defer.inlineCallbacks
    def test_expired_while_away(self) -> Any:
        """
        A QoS 1 message with a 1 second expiry interval, queued for a client that is away
        longer than that, is not delivered when it comes back; one without expiry is.
        """
        from paho.mqtt.packettypes import PacketTypes

        session = properties(PacketTypes.CONNECT, SessionExpiryInterval=300)
        subscriber = Client(self, self.port, "away", V5)
        yield subscriber.connect(properties=session)
        yield subscriber.subscribe("t", qos=1)
        yield subscriber.disconnect()
        publisher = Client(self, self.port, "pub", V5)
        yield publisher.connect()
        yield publisher.publish("t", b"short-lived", 1,
                                properties=properties(MessageExpiryInterval=1))
        yield publisher.publish("t", b"lasting", 1)
        yield pause(1.5)
        again = Client(self, self.port, "away", V5)
        yield again.connect(clean=False, properties=session)
        yield again.wait_for(1)
        yield pause(0.2)
        self.assertEqual([m[1] for m in again.messages], [b"lasting"])

    @defer.inlineCallbacks
    def test_garbage_closes_only_its_connection(self) -> Any:
        """
        A client that sends a packet of reserved type 0 gets DISCONNECT with a reason code
        of 0x80 or more and its connection is closed (MQTT-4.13.1-1); a subscriber connected
        at the same time goes on receiving.
        """
        subscriber = Client(self, self.port, "bystander", V5)
        yield subscriber.connect()
        yield subscriber.subscribe("news")
        rogue, _ = yield self.raw("rogue")
        rogue.sock.sendall(b"\x00\x02\xff\xff")
        [disconnect] = yield deferToThread(rogue.receive, 1)
        self.assertIsInstance(disconnect, Disconnect)
        self.assertGreaterEqual(disconnect.reason_code, 0x80)
        self.assertTrue((yield deferToThread(rogue.closed)))
        publisher = Client(self, self.port, "pub", V5)
        yield publisher.connect()
        yield publisher.publish("news", b"still here", 1)
        messages = yield subscriber.wait_for(1)
        self.assertEqual(messages[0][:2], ("news", b"still here"))
