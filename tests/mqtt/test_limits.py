"""
Tests for the broker's limits on hostile clients: subscriptions per session
(C{mqtt.maxSubscriptions}), and the packet size and in-flight bounds that the C{mqtt} section
configures (C{mqtt.maxPacketSize}, C{mqtt.maxInflightMessages}), and the time a connection
has to send its CONNECT (C{mqtt.connectTimeout}).
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.errors import ConfigError
from harper.mqtt.codec import encode
from harper.mqtt.packets import (
    MQTT_3_1_1, Connect, Disconnect, Publish, ReasonCode, SubAck, Subscribe, SubscriptionOptions,
    Unsubscribe,
)
from harper.mqtt.session import SessionSettings
from tests.mqtt.wire import Wire

QOS_1 = SubscriptionOptions(1)


def subscribe(*topic_filters: str, packet_id: int = 1) -> Subscribe:
    """
    A SUBSCRIBE of C{topic_filters}, each at QoS 1.
    """
    return Subscribe(packet_id, [(topic_filter, QOS_1) for topic_filter in topic_filters])


class SubscriptionLimitTests(TestCase):
    """
    C{SessionSettings.max_subscriptions}: the filters past it are refused with Quota exceeded.
    """

    def setUp(self) -> None:
        self.wire = Wire(SessionSettings(max_subscriptions=3))

    def test_flood_in_one_packet(self) -> None:
        """
        Of a SUBSCRIBE with more filters than the limit, the first ones are granted and the
        rest get reason code 0x97 (MQTT 5 section 3.9.3); only the granted ones deliver.
        """
        peer = self.wire.client("flood")
        filters = [f"f/{n}" for n in range(1000)]
        peer.send(subscribe(*filters))
        self.assertEqual(peer.received(), [SubAck(1, [1, 1, 1] + [ReasonCode.QUOTA_EXCEEDED] * 997)])
        self.assertEqual(sorted(peer.session.state.subscriptions), ["f/0", "f/1", "f/2"])
        sender = self.wire.client("sender")
        sender.send(Publish("f/2", b"in"), Publish("f/3", b"out"))
        self.assertEqual([p.topic for p in peer.received()], ["f/2"])

    def test_resubscribe_and_unsubscribe(self) -> None:
        """
        At the limit, a filter the session already has can still be subscribed again (its
        options replaced); after an UNSUBSCRIBE a new one fits again.
        """
        peer = self.wire.client("c")
        peer.send(subscribe("a", "b", "c"))
        peer.received()
        peer.send(subscribe("a", "d", packet_id=2))
        self.assertEqual(peer.received(), [SubAck(2, [1, ReasonCode.QUOTA_EXCEEDED])])
        peer.send(Unsubscribe(3, ("b",)), subscribe("d", packet_id=4))
        self.assertEqual(peer.received()[-1], SubAck(4, [1]))

    def test_mqtt_3_1_1(self) -> None:
        """
        An MQTT 3.1.1 client gets return code 0x80 (Failure) for the filters past the limit.
        """
        peer = self.wire.client("old", MQTT_3_1_1)
        peer.send(subscribe("a", "b", "c", "d"))
        peer.transport.clear()
        peer.send(subscribe("e", packet_id=2))
        self.assertEqual(peer.transport.value()[-1:], b"\x80")

    def test_many_clients(self) -> None:
        """
        The bound is per session: every client of many gets its own share, and the broker
        holds no more than the limit for each.
        """
        peers = [self.wire.client(f"c{n}") for n in range(50)]
        for peer in peers:
            peer.send(subscribe(*(f"t/{n}" for n in range(10))))
        for peer in peers:
            codes = peer.received()[0].reason_codes
            self.assertEqual(codes.count(ReasonCode.QUOTA_EXCEEDED), 7)
            self.assertEqual(len(peer.session.state.subscriptions), 3)

    def test_unbounded(self) -> None:
        """
        With a limit of 0 (the default of L{SessionSettings}), every filter is granted.
        """
        peer = Wire().client("c")
        peer.send(subscribe(*(f"f/{n}" for n in range(2000))))
        self.assertEqual(peer.received(), [SubAck(1, [1] * 2000)])


class ConnectTimeoutTests(TestCase):
    """
    C{SessionSettings.connect_timeout}: a connection that sends no CONNECT in time is closed.
    """

    def setUp(self) -> None:
        self.wire = Wire(SessionSettings(connect_timeout=10))

    def test_silent_connection(self) -> None:
        """
        A connection that sends nothing, or only part of a CONNECT, is closed once the
        timeout has passed, and not before.
        """
        silent, partial = self.wire.peer(), self.wire.peer()
        partial.send_bytes(encode(Connect("c"), partial.level)[:5])
        self.wire.clock.advance(9.9)
        self.assertEqual((silent.closed, partial.closed), (False, False))
        self.wire.clock.advance(0.1)
        self.assertEqual((silent.closed, partial.closed), (True, True))
        self.assertEqual(silent.received(), [])

    def test_connected_in_time(self) -> None:
        """
        A client whose CONNECT arrived in time stays connected past the timeout, and no
        timer is left once its connection ends.
        """
        peer = self.wire.client("c")
        self.wire.clock.advance(60)
        self.assertFalse(peer.closed)
        peer.lose()
        self.assertEqual(self.wire.clock.getDelayedCalls(), [])

    def test_lost_before_connect(self) -> None:
        """
        A connection lost before its CONNECT leaves no timer behind.
        """
        self.wire.peer().lose()
        self.assertEqual(self.wire.clock.getDelayedCalls(), [])


class ConfiguredLimitsTests(TestCase):
    """
    The C{mqtt} section's limits reach the sessions and are announced in CONNACK.
    """

    def settings(self, text: str) -> SessionSettings:
        return SessionSettings.from_config(config_from_string(text).mqtt)

    def test_defaults(self) -> None:
        """
        By default a packet may have 10 MiB, a client 1024 messages in flight and a session
        1000 subscriptions, and a connection has 10 s to send its CONNECT.
        """
        settings = self.settings("")
        self.assertEqual(
            (settings.maximum_packet_size, settings.receive_maximum, settings.max_subscriptions,
             settings.connect_timeout),
            (10485760, 1024, 1000, 10.0),
        )
        self.assertIsNone(self.settings("mqtt: {connectTimeout: 0}").connect_timeout)

    def test_zero_packet_size_is_mqtt_limit(self) -> None:
        """
        C{maxPacketSize: 0} leaves only MQTT's own limit (no Maximum Packet Size announced).
        """
        self.assertIsNone(self.settings("mqtt: {maxPacketSize: 0}").maximum_packet_size)

    def test_bad_values(self) -> None:
        """
        Out-of-range values are configuration errors naming the key.
        """
        for text, key in [("mqtt: {maxInflightMessages: 0}", "mqtt.maxInflightMessages"),
                          ("mqtt: {maxInflightMessages: 65536}", "mqtt.maxInflightMessages"),
                          ("mqtt: {maxPacketSize: 268435461}", "mqtt.maxPacketSize"),
                          ("mqtt: {maxSubscriptions: -1}", "mqtt.maxSubscriptions"),
                          ("mqtt: {maxConnections: x}", "mqtt.maxConnections")]:
            error = self.assertRaises(ConfigError, config_from_string, text)
            self.assertIn(key, str(error))

    def test_announced_and_enforced(self) -> None:
        """
        The configured Maximum Packet Size and Receive Maximum are announced in an MQTT 5
        CONNACK; a larger packet is answered with DISCONNECT 0x95 (Packet too large) as soon
        as its fixed header arrives, and the connection closes.
        """
        wire = Wire(self.settings("mqtt: {maxPacketSize: 1000, maxInflightMessages: 5}"))
        peer = wire.client("big")
        self.assertEqual((peer.connack.properties.maximum_packet_size,
                          peer.connack.properties.receive_maximum), (1000, 5))
        packet = encode(Publish("t", b"x" * 2000), peer.level)
        peer.send_bytes(packet[:10])
        [disconnect] = peer.received()
        self.assertIsInstance(disconnect, Disconnect)
        self.assertEqual(disconnect.reason_code, ReasonCode.PACKET_TOO_LARGE)
        self.assertTrue(peer.closed)
