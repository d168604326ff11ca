"""
Shared subscriptions across the brokers of two worker processes (L{harper.mqtt.shares}):
two brokers linked by in-memory broadcasts, with in-memory clients.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.mqtt.packets import Disconnect, Publish, ReasonCode
from tests.mqtt.test_broker import _Linked
from tests.mqtt.wire import Wire


class SharedAcrossWorkersTests(SynchronousTestCase):
    """
    Members of one shared subscription on two workers.
    """

    def setUp(self) -> None:
        self.a, self.b = Wire(), Wire()
        links = _Linked(), _Linked()
        links[0].other, links[1].other = links[1], links[0]
        for wire, link in zip((self.a, self.b), links):
            self.addCleanup(wire.broker.join(link))

    def settle(self) -> None:
        """
        Let both brokers send their groups.
        """
        for wire in (self.a, self.b):
            wire.clock.advance(0)

    def publish_all(self, count: int) -> None:
        publishers = self.a.client("pa"), self.b.client("pb")
        for number in range(count):
            publishers[number % 2].send(Publish("jobs/x", b"%d" % number, 1, packet_id=number + 1))

    def test_one_member_across_workers(self) -> None:
        """
        Each message published through either worker reaches exactly one member of the group,
        and members on both workers get some.
        """
        first = self.a.subscriber("s1", "$share/g/jobs/#")
        second = self.b.subscriber("s2", "$share/g/jobs/#")
        self.settle()
        self.publish_all(40)
        got = [[p.payload for p in peer.received() if type(p) is Publish] for peer in (first, second)]
        self.assertEqual(sorted(got[0] + got[1], key=int), [b"%d" % n for n in range(40)])
        self.assertTrue(got[0] and got[1], got)

    def test_member_leaves(self) -> None:
        """
        When the members on one worker are gone, the other worker's members get everything.
        """
        first = self.a.subscriber("s1", "$share/g/jobs/#")
        second = self.b.subscriber("s2", "$share/g/jobs/#")
        self.settle()
        second.send(Disconnect(ReasonCode.SUCCESS))
        self.settle()
        self.publish_all(10)
        self.assertEqual(len([p for p in first.received() if type(p) is Publish]), 10)
