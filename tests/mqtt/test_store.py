"""
Tests for L{harper.mqtt.store}: the broker's state in ZODB, read back by a new store over the
same database.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from harper.mqtt.message import Delivery, Message
from harper.mqtt.packets import SubscriptionOptions
from harper.mqtt.properties import Properties
from harper.mqtt.state import InFlight, SessionState, Subscription
from harper.mqtt.store import BrokerStore
from tests.helpers import file_runner


class BrokerStoreTests(TestCase):
    """
    Retained messages and sessions survive in the database.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        self.store = BrokerStore(self.runner.run, self.runner.run_blocking)

    @defer.inlineCallbacks
    def test_retained(self) -> None:
        """
        Stored retained messages are loaded with their properties; deleted ones are not.
        """
        kept = Message("a", b"1", 1, True, Properties(content_type="text/plain"), "c", 10.0, 60)
        yield self.store.save_retained(kept)
        yield self.store.save_retained(Message("b", b"2", 0, True))
        yield self.store.delete_retained("b")
        retained, sessions = self.store.load(100)
        self.assertEqual([(m.topic, m.payload(), m.properties.content_type, m.expiry_interval)
                          for m in retained], [("a", b"1", "text/plain", 60)])
        self.assertEqual(sessions, [])

    @defer.inlineCallbacks
    def test_sessions(self) -> None:
        """
        A session's subscriptions, in-flight messages, QoS 2 identifiers and queue are stored;
        deliveries appended later join the queue; a deleted session is gone.
        """
        state = SessionState("c1", 300)
        state.subscriptions["t/#"] = Subscription("t/#", SubscriptionOptions(2, no_local=True), 7)
        state.outbound[5] = InFlight(Delivery(Message("t/1", b"x", 2), 2), released=True)
        state.inbound_qos2.add(9)
        state.queue.append(Delivery(Message("t/2", b"y", 1), 1, False, (7,)))
        yield self.store.save_session(state)
        yield self.store.append_queued([("c1", Delivery(Message("t/3", b"z", 1), 1))])
        yield self.store.save_session(SessionState("gone", 10))
        yield self.store.delete_session("gone")
        _, [loaded] = self.store.load(100)
        self.assertEqual(loaded.client_id, "c1")
        self.assertEqual(loaded.subscriptions, state.subscriptions)
        self.assertEqual(list(loaded.outbound), [5])
        self.assertTrue(loaded.outbound[5].released)
        self.assertEqual(loaded.inbound_qos2, {9})
        self.assertEqual([(d.message.topic, d.subscription_identifiers) for d in loaded.queue],
                         [("t/2", (7,)), ("t/3", ())])
        self.assertEqual(loaded.next_packet_id(), 6)
