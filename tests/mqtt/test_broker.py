"""
Tests for L{harper.mqtt.broker}: subscriptions and their options, retained messages, session
lifetimes and the mapping of errors to reason codes.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.errors import Forbidden, InvalidInput, NotFound, ValidationError
from harper.mqtt.message import Message
from harper.mqtt.packets import (
    MQTT_3_1_1,
    Disconnect,
    Publish,
    ReasonCode,
    RetainHandling,
    SubAck,
    Subscribe,
    SubscriptionOptions,
    UnsubAck,
    Unsubscribe,
)
from harper.mqtt.properties import Properties
from harper.mqtt.reasons import outcome_for
from harper.pubsub.payloads import UnsupportedContentType
from harper.workers.bus import Broadcast, Broadcasts, decode_frame, encode_broadcast
from tests.mqtt.wire import Wire


def _subscribe(peer, *entries, packet_id=2, properties=Properties()):
    peer.send(Subscribe(packet_id, list(entries), properties))
    return peer.received()


class SubscriptionTests(TestCase):
    """
    SUBSCRIBE, UNSUBSCRIBE and the subscription options.
    """

    def setUp(self) -> None:
        self.wire = Wire()
        self.client = self.wire.client("c")

    def publish(self, topic: str, payload: bytes = b"x", qos: int = 0, retain: bool = False,
                sender=None) -> None:
        sender = sender or self.client
        sender.send(Publish(topic, payload, qos, retain, packet_id=3 if qos else None))

    def test_suback_codes(self) -> None:
        """
        SUBACK grants the requested QoS per filter and refuses an invalid filter with 0x8F
        (0x80 in MQTT 3.1.1, MQTT-3.9.3-2 of 3.1.1).
        """
        received = _subscribe(self.client, ("a/#", SubscriptionOptions(2)), ("a/#/b", SubscriptionOptions(1)))
        self.assertEqual(received, [SubAck(2, [ReasonCode.GRANTED_QOS_2, ReasonCode.TOPIC_FILTER_INVALID])])
        old = self.wire.client("old", MQTT_3_1_1)
        self.assertEqual(_subscribe(old, ("a/+b", SubscriptionOptions(0)))[0].reason_codes, (0x80,))

    def test_unsubscribe(self) -> None:
        """
        UNSUBACK says 0x11 for a filter the client was not subscribed to; messages stop.
        """
        _subscribe(self.client, ("a", SubscriptionOptions(0)))
        self.client.send(Unsubscribe(4, ["a", "b"]))
        self.assertEqual(self.client.received(), [UnsubAck(4, [0, ReasonCode.NO_SUBSCRIPTION_EXISTED])])
        self.publish("a")
        self.assertEqual(self.client.received(), [])

    def test_overlapping_subscriptions(self) -> None:
        """
        A message matching several subscriptions of a client is sent once, with the highest
        QoS and every subscription identifier (MQTT-3.3.4-2, MQTT-3.3.4-3).
        """
        _subscribe(self.client, ("a/+", SubscriptionOptions(0)), properties=Properties(subscription_identifiers=[1]))
        _subscribe(self.client, ("a/#", SubscriptionOptions(1)), properties=Properties(subscription_identifiers=[2]))
        publisher = self.wire.client("p")
        self.publish("a/b", qos=1, sender=publisher)
        [message] = self.client.received()
        self.assertEqual(message.qos, 1)
        self.assertEqual(sorted(message.properties.subscription_identifiers), [1, 2])

    def test_no_local(self) -> None:
        """
        With No Local, a client does not get its own messages back (MQTT-3.8.3-3).
        """
        _subscribe(self.client, ("a", SubscriptionOptions(0, no_local=True)))
        self.publish("a")
        self.assertEqual(self.client.received(), [])
        self.publish("a", sender=self.wire.client("other"))
        self.assertEqual(len(self.client.received()), 1)

    def test_no_local_on_shared_subscription(self) -> None:
        """
        No Local on a shared subscription is a protocol error (MQTT-3.8.3-4).
        """
        received = _subscribe(self.client, ("$share/g/a", SubscriptionOptions(0, no_local=True)))
        self.assertEqual(received[0].reason_code, ReasonCode.PROTOCOL_ERROR)
        self.assertTrue(self.client.closed)

    def test_retain_as_published(self) -> None:
        """
        Forwarded messages have RETAIN clear unless the subscription asks for Retain As
        Published (MQTT-3.3.1-12, MQTT-3.3.1-13).
        """
        _subscribe(self.client, ("a", SubscriptionOptions(0)), ("b", SubscriptionOptions(0, retain_as_published=True)))
        publisher = self.wire.client("p")
        self.publish("a", retain=True, sender=publisher)
        self.publish("b", retain=True, sender=publisher)
        self.assertEqual([p.retain for p in self.client.received()], [False, True])

    def test_retain_handling(self) -> None:
        """
        Retained messages are sent on every subscribe (0), only for a new subscription (1),
        or never (2) (MQTT-3.3.1-9 to MQTT-3.3.1-11), with RETAIN set.
        """
        self.publish("r", b"kept", retain=True, sender=self.wire.client("p"))
        for handling, expected in ((0, 1), (1, 0), (2, 0)):
            received = _subscribe(self.client, ("r", SubscriptionOptions(0, retain_handling=handling)))
            self.assertEqual(len(received) - 1, expected, handling)
        fresh = self.wire.client("fresh")
        received = _subscribe(fresh, ("r", SubscriptionOptions(0, retain_handling=RetainHandling.SEND_IF_NEW_SUBSCRIPTION)))
        self.assertEqual(received[1], Publish("r", b"kept", retain=True))

    def test_dollar_topics(self) -> None:
        """
        Filters starting with a wildcard do not match topics starting with $ (MQTT-4.7.2-1).
        """
        _subscribe(self.client, ("#", SubscriptionOptions(0)), ("$SYS/#", SubscriptionOptions(0)))
        self.publish("$SYS/load", sender=self.wire.client("p"))
        self.assertEqual(len(self.client.received()), 1)

    def test_shared_subscription(self) -> None:
        """
        Messages of a shared subscription go to one member at a time, in turn, and retained
        messages are not sent to it.
        """
        self.publish("s/1", retain=True)
        members = [self.wire.client(f"m{n}") for n in range(2)]
        for member in members:
            self.assertEqual(len(_subscribe(member, ("$share/g/s/#", SubscriptionOptions(0)))), 1)
        for number in range(4):
            self.publish(f"s/{number}")
        self.assertEqual([len(m.received()) for m in members], [2, 2])

    def test_shared_prefers_connected(self) -> None:
        """
        A shared subscription member that is away gets nothing while another is connected.
        """
        away = self.wire.client("away", properties=Properties(session_expiry_interval=60))
        _subscribe(away, ("$share/g/s", SubscriptionOptions(1)))
        away.lose()
        present = self.wire.client("present")
        _subscribe(present, ("$share/g/s", SubscriptionOptions(1)))
        for _ in range(3):
            self.publish("s")
        self.assertEqual(len(present.received()), 3)
        self.assertEqual(len(self.wire.broker.sessions["away"].queue), 0)


class SessionLifetimeTests(TestCase):
    """
    Clean starts, session expiry and Session Present.
    """

    def setUp(self) -> None:
        self.wire = Wire()

    def test_expiry(self) -> None:
        """
        A session lasts its expiry interval after the connection ends, then it is gone
        (MQTT-3.1.2-23): Session Present tells which.
        """
        expiry = Properties(session_expiry_interval=30)
        self.wire.client("c", properties=expiry).lose()
        self.wire.clock.advance(29)
        again = self.wire.client("c", clean_start=False, properties=expiry)
        self.assertTrue(again.connack.session_present)
        again.send(Disconnect())
        self.wire.clock.advance(30)
        self.assertNotIn("c", self.wire.broker.sessions)
        self.assertFalse(self.wire.client("c", clean_start=False).connack.session_present)

    def test_clean_start_discards(self) -> None:
        """
        Clean Start discards the existing session and its subscriptions (MQTT-3.1.2-4).
        """
        expiry = Properties(session_expiry_interval=30)
        self.wire.subscriber("c", "a", properties=expiry).lose()
        fresh = self.wire.client("c", properties=expiry)
        self.assertFalse(fresh.connack.session_present)
        self.wire.client("p").send(Publish("a", b"x"))
        self.assertEqual(fresh.received(), [])

    def test_mqtt_3_1_1_clean_session(self) -> None:
        """
        MQTT 3.1.1 clean session 0 keeps the session without expiry, clean session 1 ends it
        with the connection.
        """
        self.wire.client("kept", MQTT_3_1_1, clean_start=False).lose()
        self.wire.client("gone", MQTT_3_1_1).lose()
        self.wire.clock.advance(10 ** 6)
        self.assertEqual(sorted(self.wire.broker.sessions), ["kept"])


class MessageKeyTests(TestCase):
    """
    The keys that identify messages across workers (L{harper.mqtt.message.Message.key}).
    """

    def test_unique(self) -> None:
        """
        Each message a broker routes gets a key of its own, and two brokers (two workers, or
        one before and after a restart) never give the same key.
        """
        first, second = Wire().broker, Wire().broker
        messages = [Message("t", b"x") for _ in range(3)]
        for message in messages[:2]:
            first.publish_as(None, message, None)
        second.publish_as(None, messages[2], None)
        keys = [message.key for message in messages]
        self.assertNotIn(None, keys)
        self.assertEqual(len(set(keys)), 3)

    def test_kept(self) -> None:
        """
        A message that already has a key (from another worker) keeps it.
        """
        message = Message("t", b"x")
        message.key = "from-elsewhere"
        Wire().broker.publish_as(None, message, None)
        self.assertEqual(message.key, "from-elsewhere")


class ReasonCodeTests(TestCase):
    """
    harper errors as MQTT reason codes.
    """

    def test_codes(self) -> None:
        """
        Permission errors are 0x87, unreadable payloads 0x99, schema violations and other
        refused input 0x83, anything else 0x80 without details.
        """
        cases = [
            (Forbidden("no"), 0x87),
            (UnsupportedContentType("text/csv"), 0x99),
            (ValidationError(["Dog.name is required"]), 0x83),
            (InvalidInput("bad"), 0x83),
            (NotFound("gone"), 0x83),
            (RuntimeError("secret detail"), 0x80),
        ]
        for error, code in cases:
            self.assertEqual(outcome_for(error).code, code, error)
        self.assertNotIn("secret", outcome_for(RuntimeError("secret detail")).reason)


class _Linked(Broadcasts):
    """
    Broadcasts that reach another worker's L{Broadcasts} at once, through the bus's codec.
    """

    other: Broadcasts

    def send(self, kind: str, body: object) -> None:
        self.other.received(decode_frame(encode_broadcast(Broadcast(kind, body))))


class WorkerPeerTests(TestCase):
    """
    The brokers of two worker processes exchange the messages of plain topics.
    """

    def setUp(self) -> None:
        self.a, self.b = Wire(), Wire()
        links = _Linked(), _Linked()
        links[0].other, links[1].other = links[1], links[0]
        self.leave = self.a.broker.join(links[0])
        self.b.broker.join(links[1])

    def test_messages_cross(self) -> None:
        """
        A subscriber on one broker gets a message published on the other, once, with its QoS
        and properties.
        """
        subscriber = self.b.subscriber("sub", "news/#", qos=1)
        publisher = self.a.client("pub")
        publisher.send(Publish("news/1", b"hi", 1, False, packet_id=5,
                               properties=Properties(user_properties=[("k", "v")])))
        [message] = subscriber.received()
        self.assertEqual((message.topic, message.payload, message.qos, message.retain),
                         ("news/1", b"hi", 1, False))
        self.assertEqual(message.properties.user_properties, (("k", "v"),))
        self.assertEqual(publisher.received()[0].reason_code, ReasonCode.SUCCESS)

    def test_taken_over_across(self) -> None:
        """
        A client that connects through one worker takes over its connection through the
        other (MQTT-3.1.4-3): that one gets DISCONNECT 0x8E Session taken over.
        """
        first = self.b.client("twice")
        self.a.client("twice")
        [disconnect] = first.received()
        self.assertEqual(disconnect.reason_code, ReasonCode.SESSION_TAKEN_OVER)
        self.assertTrue(first.closed)

    def test_retained_cross(self) -> None:
        """
        A retained message published on one broker is kept by the other (in memory: the first
        stored it) for its new subscribers; an empty one clears it there too.
        """
        publisher = self.a.client("pub")
        publisher.send(Publish("state", b"on", 0, True))
        _, retained = _subscribe(self.b.client("late"), ("state", SubscriptionOptions(0)))
        self.assertEqual((retained.topic, retained.payload, retained.retain),
                         ("state", b"on", True))
        publisher.send(Publish("state", b"", 0, True))
        self.assertEqual(len(self.b.broker.retained), 0)

    def test_leave(self) -> None:
        """
        After leaving, a broker neither sends nor receives.
        """
        self.leave()
        subscriber = self.b.subscriber("sub", "t")
        self.a.client("pub").send(Publish("t", b"x"))
        self.assertEqual(subscriber.received(), [])
        there = self.a.subscriber("there", "t")
        self.b.client("pub").send(Publish("t", b"x"))
        self.assertEqual(there.received(), [])
