"""
Tests for L{harper.mqtt.store}: the broker's state in ZODB, read back by a new store over the
same database.
"""

from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase

from harper.mqtt.broker import Broker
from harper.mqtt.message import Delivery, Message
from harper.mqtt.packets import Publish, SubscriptionOptions, Will
from harper.mqtt.properties import Properties
from harper.mqtt.protocol import MQTTFactory
from harper.mqtt.state import InFlight, SessionState, Subscription
from harper.mqtt.store import BrokerStore
from tests.helpers import file_runner
from tests.mqtt.helpers import ADMIN, authenticate
from tests.mqtt.wire import Wire


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

    @defer.inlineCallbacks
    def test_wills(self) -> None:
        """
        Pending wills are stored with their properties, user and due time; a claimed one is
        gone, and only the first claim gets it.
        """
        record = {"topic": "t", "payload": b"x", "qos": 1, "retain": False,
                  "properties": {"will_delay_interval": 5}, "user": "admin", "due": 12.5}
        yield self.store.save_will("c1", record)
        yield self.store.save_will("c2", dict(record, topic="u"))
        claimed = yield self.store.claim_will("c2")
        again = yield self.store.claim_will("c2")
        self.assertEqual((claimed, again), (True, False))
        self.assertEqual(self.store.load_wills(), {"c1": record})


class StoredWillTests(TestCase):
    """
    A delayed will outlives a broker restart: a new broker over the same database publishes
    it when it is due, unless its client came back.
    """

    def setUp(self) -> None:
        runner = file_runner(self)
        self.store = BrokerStore(runner.run, runner.run_blocking)
        self.clock = Clock()
        self.clock.advance(1000)

    def wire(self) -> Wire:
        """
        A started broker over the store, on the test's clock.
        """
        wire = Wire()
        wire.clock = self.clock
        wire.broker = Broker(self.clock, self.store, authenticate=authenticate,
                             require_authentication=False,
                             find_user=lambda name: defer.succeed(ADMIN if name == "admin"
                                                                  else None))
        wire.factory = MQTTFactory(wire.broker, self.clock)
        wire.broker.start()
        return wire

    @defer.inlineCallbacks
    def stored_wills(self, count: int) -> defer.Deferred:
        """
        Wait until C{count} wills are stored (the writes run on the pool); fire with them.
        """
        for _ in range(500):
            wills = self.store.load_wills()
            if len(wills) == count:
                return wills
            yield deferLater(reactor, 0.01, lambda: None)
        raise AssertionError(f"{count} wills never stored: {wills}")

    @defer.inlineCallbacks
    def test_will_survives_restart(self) -> None:
        """
        Three clients with a 30 second will delay drop their connections; the broker stops 10
        seconds later. After the restart, the one that comes back has no will published; the
        other's will is taken out of the store and published at its due time, 20 seconds after
        the restart. The will of a user who no longer exists is dropped.
        """
        first = self.wire()
        will = Will("status/gone", b"bye", 1, properties=Properties(will_delay_interval=30))
        expiry = Properties(session_expiry_interval=300)
        first.client("gone", will=will, properties=expiry, username="admin",
                     password=b"secret").lose()
        first.client("back", will=Will("status/back", b"bye", properties=will.properties),
                     properties=expiry).lose()
        first.client("ghost", will=Will("status/ghost", b"bye", properties=will.properties),
                     properties=expiry, username="reader", password=b"secret").lose()
        wills = yield self.stored_wills(3)
        self.assertEqual(wills["gone"]["user"], "admin")
        self.clock.advance(10)
        yield first.broker.stop()
        second = self.wire()
        watcher = second.subscriber("watcher", "status/#")
        second.client("back", clean_start=False, properties=expiry)
        self.clock.advance(19)
        yield self.stored_wills(2)
        self.assertEqual(watcher.received(), [])
        self.clock.advance(1)
        received = []
        for _ in range(500):
            received += watcher.received()
            if received:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        yield self.stored_wills(0)
        received += watcher.received()
        [published] = received
        self.assertIsInstance(published, Publish)
        self.assertEqual((published.topic, published.payload), ("status/gone", b"bye"))
