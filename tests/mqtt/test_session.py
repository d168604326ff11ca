"""
Tests for L{harper.mqtt.session}: connecting, keep-alive and the end of connections, driven
through the protocol on a StringTransport with a Clock. Docstrings name the normative
statements of MQTT 5 (or of MQTT 3.1.1 where they say so).
"""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from harper.mqtt.codec import encode
from harper.mqtt.packets import (
    MQTT_3_1_1,
    MQTT_5,
    ConnAck,
    Connect,
    ConnectReturnCode,
    Disconnect,
    PingReq,
    PingResp,
    Publish,
    ReasonCode,
    SubAck,
    Will,
)
from harper.mqtt.properties import Properties
from harper.mqtt.session import Phase, SessionSettings
from tests.mqtt.wire import Wire


class ConnectTests(TestCase):
    """
    CONNECT and CONNACK.
    """

    def setUp(self) -> None:
        self.wire = Wire()

    def test_connack_properties(self) -> None:
        """
        An MQTT 5 CONNACK announces the server's Receive Maximum and Topic Alias Maximum; a
        new session is not present (MQTT-3.2.2-2).
        """
        peer = self.wire.client("c1")
        self.assertEqual(peer.connack.reason_code, ReasonCode.SUCCESS)
        self.assertFalse(peer.connack.session_present)
        self.assertEqual(peer.connack.properties.receive_maximum, 1024)
        self.assertEqual(peer.connack.properties.topic_alias_maximum, 64)

    def test_byte_by_byte(self) -> None:
        """
        A CONNECT split into single bytes is reassembled.
        """
        peer = self.wire.peer(MQTT_3_1_1)
        for byte in encode(Connect("c1", protocol_level=MQTT_3_1_1), MQTT_3_1_1):
            peer.send_bytes(bytes((byte,)))
        self.assertEqual(peer.received(), [ConnAck(False, ConnectReturnCode.ACCEPTED)])

    def test_first_packet_not_connect(self) -> None:
        """
        A connection whose first packet is not CONNECT is closed (MQTT-3.1.0-1).
        """
        peer = self.wire.peer()
        peer.send_bytes(encode(PingReq(), MQTT_5))
        self.assertTrue(peer.closed)
        self.assertEqual(peer.received(), [])

    def test_second_connect(self) -> None:
        """
        A second CONNECT is a protocol error: DISCONNECT 0x82 and close (MQTT-3.1.0-2).
        """
        peer = self.wire.client("c1")
        peer.send(Connect("c1"))
        self.assertEqual(peer.received(), [Disconnect(ReasonCode.PROTOCOL_ERROR, Properties(
            reason_string="a second CONNECT (MQTT-3.1.0-2)"))])
        self.assertTrue(peer.closed)

    def test_unsupported_version(self) -> None:
        """
        A CONNECT for protocol level 3 gets return code 0x01 in the 3.1.1 format, then the
        connection closes (MQTT-3.1.2-2 of 3.1.1).
        """
        peer = self.wire.peer(MQTT_3_1_1)
        data = bytearray(encode(Connect("c1", protocol_level=MQTT_3_1_1), MQTT_3_1_1))
        data[8] = 3
        peer.send_bytes(bytes(data))
        self.assertEqual(peer.received(), [ConnAck(False, ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION)])
        self.assertTrue(peer.closed)

    def test_empty_client_id(self) -> None:
        """
        MQTT 3.1.1 refuses an empty client identifier with clean session 0 (MQTT-3.1.3-8 of
        3.1.1); MQTT 5 assigns one and returns it (MQTT-3.2.2-16).
        """
        old = self.wire.client("", MQTT_3_1_1, clean_start=False)
        self.assertEqual(old.connack.reason_code, ConnectReturnCode.IDENTIFIER_REJECTED)
        self.assertTrue(old.closed)
        new = self.wire.client("", MQTT_5, clean_start=False)
        assigned = new.connack.properties.assigned_client_identifier
        self.assertTrue(assigned.startswith("harper-"))
        self.assertIn(assigned, self.wire.broker.sessions)

    def test_credentials(self) -> None:
        """
        Wrong credentials get 0x86 (0x04 in 3.1.1); with authentication required, no
        credentials get 0x87 (0x05); right ones connect as the user.
        """
        self.wire.broker._require_authentication = True
        wrong = self.wire.client("a", username="admin", password=b"nope")
        self.assertEqual(wrong.connack.reason_code, ReasonCode.BAD_USER_NAME_OR_PASSWORD)
        wrong_v3 = self.wire.client("b", MQTT_3_1_1, username="admin", password=b"nope")
        self.assertEqual(wrong_v3.connack.reason_code, ConnectReturnCode.BAD_USER_NAME_OR_PASSWORD)
        anonymous = self.wire.client("c", MQTT_3_1_1)
        self.assertEqual(anonymous.connack.reason_code, ConnectReturnCode.NOT_AUTHORIZED)
        right = self.wire.client("d", username="admin", password=b"secret")
        self.assertEqual(right.connack.reason_code, ReasonCode.SUCCESS)
        self.assertEqual(right.session.user.username, "admin")
        self.assertTrue(all(peer.closed for peer in (wrong, wrong_v3, anonymous)))

    def test_enhanced_authentication_refused(self) -> None:
        """
        A CONNECT with an authentication method the server does not support gets 0x8C.
        """
        peer = self.wire.client("c1", properties=Properties(authentication_method="SCRAM-SHA-1"))
        self.assertEqual(peer.connack.reason_code, ReasonCode.BAD_AUTHENTICATION_METHOD)

    def test_client_sends_server_packet(self) -> None:
        """
        A client sending a packet only servers send (SUBACK) is disconnected with 0x82.
        """
        peer = self.wire.client("c1")
        peer.send(SubAck(1, [0]))
        self.assertEqual(peer.received()[0].reason_code, ReasonCode.PROTOCOL_ERROR)
        self.assertTrue(peer.closed)

    def test_malformed_after_connect(self) -> None:
        """
        A malformed packet gets DISCONNECT 0x81 and the connection closes (MQTT-4.13.1-1);
        other clients are unaffected.
        """
        bad = self.wire.client("bad")
        good = self.wire.subscriber("good", "t")
        bad.send_bytes(b"\x30\x03\x00\x05a")
        self.assertEqual(bad.received()[0].reason_code, ReasonCode.MALFORMED_PACKET)
        self.assertTrue(bad.closed)
        other = self.wire.client("other")
        other.send(Publish("t", b"still here"))
        self.assertEqual(good.received(), [Publish("t", b"still here")])


class KeepAliveTests(TestCase):
    """
    Keep-alive on the injected clock.
    """

    def setUp(self) -> None:
        self.wire = Wire()
        self.clock = self.wire.clock

    def test_timeout(self) -> None:
        """
        A client silent for one and a half keep-alive periods is disconnected with 0x8D
        (MQTT-3.1.2-22); packets in between keep it connected.
        """
        peer = self.wire.client("c1", keep_alive=10)
        self.clock.advance(14)
        peer.send(PingReq())
        self.assertEqual(peer.received(), [PingResp()])
        self.clock.advance(14)
        self.assertFalse(peer.closed)
        self.clock.advance(1)
        self.assertEqual(peer.received()[0].reason_code, ReasonCode.KEEP_ALIVE_TIMEOUT)
        self.assertTrue(peer.closed)

    def test_server_keep_alive(self) -> None:
        """
        With a server keep-alive, a client asking for none gets it in CONNACK
        (MQTT-3.2.2-21) and is held to it.
        """
        wire = Wire(SessionSettings(server_keep_alive=20))
        peer = wire.client("c1", keep_alive=0)
        self.assertEqual(peer.connack.properties.server_keep_alive, 20)
        wire.clock.advance(30)
        self.assertTrue(peer.closed)

    def test_no_keep_alive(self) -> None:
        """
        Keep-alive 0 turns the mechanism off.
        """
        peer = self.wire.client("c1", keep_alive=0)
        self.clock.advance(100000)
        self.assertFalse(peer.closed)


class EndTests(TestCase):
    """
    DISCONNECT, wills and session takeover.
    """

    def setUp(self) -> None:
        self.wire = Wire()
        self.watcher = self.wire.subscriber("watcher", "wills/#")

    def test_will_on_lost_connection(self) -> None:
        """
        The will is published when the connection closes without DISCONNECT (MQTT-3.1.2-8),
        not after a normal DISCONNECT (MQTT-3.1.2-10), and after DISCONNECT 0x04.
        """
        lost = self.wire.client("lost", will=Will("wills/lost", b"1"))
        lost.lose()
        polite = self.wire.client("polite", will=Will("wills/polite", b"2"))
        polite.send(Disconnect())
        asked = self.wire.client("asked", will=Will("wills/asked", b"3"))
        asked.send(Disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE))
        self.assertEqual([p.topic for p in self.watcher.received()], ["wills/lost", "wills/asked"])
        self.assertTrue(polite.closed)

    def test_will_delay(self) -> None:
        """
        A will with a delay is published once the delay passed; reconnecting before it
        cancels it (MQTT-3.1.3-9).
        """
        will = Will("wills/slow", b"x", properties=Properties(will_delay_interval=10))
        expiry = Properties(session_expiry_interval=100)
        first = self.wire.client("slow", will=will, properties=expiry)
        first.lose()
        self.wire.clock.advance(5)
        self.wire.client("slow", clean_start=False, properties=expiry).lose()
        self.wire.clock.advance(9)
        self.assertEqual(self.watcher.received(), [])
        self.wire.clock.advance(100)
        self.assertEqual(self.watcher.received(), [])
        second = self.wire.client("slow2", will=will, properties=expiry)
        second.lose()
        self.wire.clock.advance(10)
        self.assertEqual([p.topic for p in self.watcher.received()], ["wills/slow"])

    def test_will_at_session_end(self) -> None:
        """
        A will whose delay is longer than the session expiry is published when the session
        ends.
        """
        will = Will("wills/end", b"x", properties=Properties(will_delay_interval=60))
        peer = self.wire.client("short", will=will, properties=Properties(session_expiry_interval=5))
        peer.lose()
        self.wire.clock.advance(5)
        self.assertEqual([p.topic for p in self.watcher.received()], ["wills/end"])
        self.assertNotIn("short", self.wire.broker.sessions)

    def test_takeover(self) -> None:
        """
        A second connection with the same client identifier takes the session over: the
        first gets DISCONNECT 0x8E and is closed (MQTT-3.1.4-3).
        """
        first = self.wire.client("same")
        second = self.wire.client("same")
        self.assertEqual(first.received()[0].reason_code, ReasonCode.SESSION_TAKEN_OVER)
        self.assertTrue(first.closed)
        self.assertIs(self.wire.broker.sessions["same"].connection, second.session)
        first.lose()
        self.assertIs(self.wire.broker.sessions["same"].connection, second.session)

    def test_disconnect_sets_expiry(self) -> None:
        """
        DISCONNECT may change a non-zero session expiry; setting one on a session that had
        none is a protocol error (MQTT-3.14.2-2).
        """
        kept = self.wire.client("kept", properties=Properties(session_expiry_interval=5))
        kept.send(Disconnect(properties=Properties(session_expiry_interval=50)))
        self.wire.clock.advance(10)
        self.assertIn("kept", self.wire.broker.sessions)
        brief = self.wire.client("brief")
        brief.send(Disconnect(properties=Properties(session_expiry_interval=50)))
        self.assertEqual(brief.received()[0].reason_code, ReasonCode.PROTOCOL_ERROR)
        self.assertEqual(brief.session.phase, Phase.CLOSED)
        self.assertNotIn("brief", self.wire.broker.sessions)


class GarbageTests(TestCase):
    """
    Random and truncated bytes after a valid CONNECT.
    """

    def test_random_bytes(self) -> None:
        """
        Whatever bytes a client sends, the server never fails: it either keeps the connection
        or closes it after a DISCONNECT with a protocol reason code, and another client keeps
        working. (Seeded, so a failure can be replayed.)
        """
        import random

        from harper.mqtt.packets import Subscribe, SubscriptionOptions

        allowed = {ReasonCode.MALFORMED_PACKET, ReasonCode.PROTOCOL_ERROR, ReasonCode.PACKET_TOO_LARGE,
                   ReasonCode.TOPIC_ALIAS_INVALID, ReasonCode.RECEIVE_MAXIMUM_EXCEEDED}
        generator = random.Random(4)
        wire = Wire(SessionSettings(maximum_packet_size=4096))
        witness = wire.subscriber("witness", "w")
        valid = encode(Subscribe(1, [("a/+", SubscriptionOptions(1))]), MQTT_5)
        for round_number in range(300):
            peer = wire.client(f"fuzz{round_number}")
            if round_number % 3 == 0:
                data = valid[: generator.randrange(1, len(valid))] + bytes(generator.randrange(256) for _ in range(8))
            else:
                data = bytes(generator.randrange(256) for _ in range(generator.randrange(1, 64)))
            peer.send_bytes(data)
            if peer.closed:
                disconnects = [p for p in peer.received() if isinstance(p, Disconnect)]
                self.assertIn(disconnects[-1].reason_code, allowed, data)
            peer.lose()
        wire.client("sender").send(Publish("w", b"alive"))
        self.assertEqual(witness.received(), [Publish("w", b"alive")])


class _NoDelayTransport(StringTransport):
    """
    A transport that records the TCP_NODELAY setting asked for.
    """

    no_delay = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay = enabled


class NoDelayTests(TestCase):
    """
    The protocol's socket options.
    """

    def test_no_delay(self) -> None:
        """
        A TCP connection is switched to TCP_NODELAY: a small packet written right after
        another goes out at once instead of waiting for the client's (possibly delayed)
        acknowledgement of the first.
        """
        wire = Wire()
        transport = _NoDelayTransport()
        wire.factory.buildProtocol(None).makeConnection(transport)
        self.assertTrue(transport.no_delay)
