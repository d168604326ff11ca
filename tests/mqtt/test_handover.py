"""
Persistent sessions across the brokers of two worker processes (L{harper.mqtt.handover}):
two brokers over one database, linked by in-memory broadcasts, with in-memory clients.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase

from harper.mqtt.broker import Broker
from harper.mqtt.packets import (
    ConnAck, Connect, Disconnect, Publish, PubAck, ReasonCode, Subscribe, SubscriptionOptions,
)
from harper.mqtt.properties import Properties
from harper.mqtt.store import BrokerStore
from tests.helpers import file_runner
from tests.mqtt.helpers import authenticate
from tests.mqtt.test_broker import _Linked
from tests.mqtt.wire import Peer, Wire

_PERSISTENT = Properties(session_expiry_interval=300)


class HandoverTests(TestCase):
    """
    A client whose connections land on one worker and then the other.
    """

    timeout = 30

    def setUp(self) -> None:
        runner = file_runner(self)
        store = BrokerStore(runner.run, runner.run_blocking)
        self.a, self.b = (Wire(broker=Broker(Clock(), store, authenticate=authenticate,
                                             require_authentication=False))
                          for _ in range(2))
        links = _Linked(), _Linked()
        links[0].other, links[1].other = links[1], links[0]
        for wire, link in zip((self.a, self.b), links):
            wire.broker.start()
            self.addCleanup(wire.broker.join(link))

    async def until(self, condition: Callable[[], Any], what: str) -> Any:
        """
        Poll C{condition} until it is true (the store writes run in threads).
        """
        for _ in range(500):
            result = condition()
            if result:
                return result
            await deferLater(reactor, 0.01, lambda: None)
        self.fail(f"gave up waiting for {what}")

    async def connect(self, wire: Wire, client_id: str) -> tuple[Peer, list]:
        """
        Connect C{client_id} with clean start 0 and a session expiry; return the client and
        the packets up to and after its CONNACK.
        """
        peer = wire.peer()
        peer.send(Connect(client_id, False, properties=_PERSISTENT))
        packets: list = []

        def answered() -> bool:
            packets.extend(peer.received())
            return any(type(p) is ConnAck for p in packets)

        await self.until(answered, "CONNACK")
        return peer, packets

    async def stored(self, wire: Wire, client_id: str) -> None:
        """
        Wait until C{wire}'s broker wrote everything of C{client_id}.
        """
        await wire.broker.table.writes.written(client_id)

    async def test_queued_once_and_resumed_elsewhere(self) -> None:
        """
        Messages published through either worker while the client is away are queued once
        (both workers queue them; the store keeps one of each), and the client that comes
        back through the other worker gets its session and each of them exactly once.
        """
        peer, _ = await self.connect(self.a, "c")
        peer.send(Subscribe(1, [("t/#", SubscriptionOptions(1))]))
        await self.until(peer.received, "SUBACK")
        peer.send(Disconnect(ReasonCode.SUCCESS))
        await self.until(lambda: "c" in self.b.broker.sessions, "worker B to keep the session")
        for wire, payload in ((self.a, b"1"), (self.b, b"2"), (self.a, b"3")):
            wire.client(f"pub{payload.decode()}").send(Publish("t/x", payload, 1, packet_id=1))
        for wire in (self.a, self.b):
            await self.stored(wire, "c")
        again, packets = await self.connect(self.b, "c")
        connack = next(p for p in packets if type(p) is ConnAck)
        self.assertTrue(connack.session_present)
        publishes = [p for p in packets if type(p) is Publish]
        publishes += [p for p in again.received() if type(p) is Publish]
        self.assertEqual([p.payload for p in publishes], [b"1", b"2", b"3"])
        for publish in publishes:
            again.send(PubAck(publish.packet_id))
        self.a.client("pub4").send(Publish("t/y", b"4", 1, packet_id=1))
        self.assertEqual([p.payload for p in again.received()], [b"4"])

    async def test_taken_over(self) -> None:
        """
        A client connected through one worker that connects through the other: the first
        connection is closed with DISCONNECT 0x8E after its session is stored, and the new
        one finds that session (its subscription) there.
        """
        first, _ = await self.connect(self.a, "c")
        first.send(Subscribe(1, [("t", SubscriptionOptions(1))]))
        await self.until(first.received, "SUBACK")
        await self.until(lambda: "c" in self.b.broker.relay.holders, "worker B to learn the holder")
        second, packets = await self.connect(self.b, "c")
        self.assertTrue(next(p for p in packets if type(p) is ConnAck).session_present)
        [disconnect] = first.received()
        self.assertEqual(disconnect.reason_code, ReasonCode.SESSION_TAKEN_OVER)
        self.assertIn("t", self.b.broker.sessions["c"].subscriptions)
        await self.until(lambda: "c" in self.a.broker.relay.holders, "worker A to learn the holder")
        self.assertNotIn("c", self.a.broker.sessions)
