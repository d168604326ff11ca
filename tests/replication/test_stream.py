"""
Tests for L{harper.replication.stream.Publication}: what a subscriber is sent, in which
order, and how much before it confirms.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.database.events import PUT
from harper.replication.entries import Change, LogEntry
from harper.replication.stream import Publication
from harper.replication.wire import Ack, CopyAck, CopyChunk, CopyDone, Entries, Subscribe
from tests.replication.helpers import local_replica


class PublicationTests(TestCase):
    """
    A publication over a real log, sending into a list.
    """

    def setUp(self) -> None:
        self.replica, self.table = local_replica(self)
        self.sent = []

    def write(self, *keys: int) -> None:
        for key in keys:
            self.replica.runner.run_blocking(lambda txn, key=key: self.table.put(txn, {"id": key}))

    def publish(self, vector, databases="*", **options) -> Publication:
        publication = Publication(
            self.replica,
            Subscribe("node-b", None, vector, databases),
            self.sent.append,
            **options,
        )
        publication.start()
        return publication

    def keys(self, message: Entries) -> list:
        return [change.id for entry in message.entries for change in entry.changes]

    def test_window(self) -> None:
        """
        Entries go out in batches until a window of unconfirmed positions is in flight; each
        confirmation lets more go.
        """
        self.write(1, 2, 3, 4, 5)
        publication = self.publish({"node-a": 0}, batch=2, window=3)
        self.assertEqual([(m.through, self.keys(m)) for m in self.sent], [(2, [1, 2]), (4, [3, 4])])
        publication.received(Ack(4))
        self.assertEqual(
            (self.sent[-1].through, self.keys(self.sent[-1]), self.sent[-1].head),
            (5, [5], 5),
        )

    def test_starts_after_what_subscriber_has(self) -> None:
        """
        A subscriber whose vector holds the first entries is sent the rest.
        """
        self.write(1, 2, 3)
        self.publish({"node-a": 2})
        self.assertEqual([self.keys(m) for m in self.sent], [[3]])

    def test_new_entries_after_pump(self) -> None:
        """
        A subscriber that lacks nothing is told so at once (an empty batch with the head);
        entries committed later go out when the publication is pumped; a stopped one sends
        nothing more.
        """
        publication = self.publish({"node-a": 0})
        self.assertEqual(self.sent, [Entries(0, 0, ())])
        publication.pump()
        self.assertEqual(len(self.sent), 1)
        self.write(1)
        publication.pump()
        self.assertEqual([self.keys(m) for m in self.sent], [[], [1]])
        publication.stop()
        self.write(2)
        publication.pump()
        self.assertEqual(len(self.sent), 2)

    def test_subscriber_own_entries_left_out(self) -> None:
        """
        Entries that came from the subscriber are not sent back, but the position moves past
        them.
        """
        change = Change("data", "Dog", 9, PUT, {"id": 9})
        self.replica.runner.run_blocking(
            lambda txn: self.replica.applier.apply_entries(
                txn, "node-b", [_entry("node-b", change)], 1
            )
        )
        self.write(1)
        self.publish({"node-a": 0})
        [message] = self.sent
        self.assertEqual((message.through, self.keys(message)), (2, [1]))

    def test_databases_filter(self) -> None:
        """
        A subscriber asking for other databases gets no changes of this one.
        """
        self.write(1)
        self.publish({"node-a": 0}, databases=("other",))
        [message] = self.sent
        self.assertEqual((message.through, message.entries), (1, ()))

    def test_base_copy_then_stream(self) -> None:
        """
        A subscriber without this node's data gets the records in chunks (at most two
        unconfirmed), the copy's vector, then the entries committed after the copy.
        """
        self.write(1, 2, 3)
        publication = self.publish({}, batch=1)
        self.assertEqual([type(m) for m in self.sent], [CopyChunk, CopyChunk])
        publication.received(CopyAck(2))
        self.assertEqual([type(m) for m in self.sent], [CopyChunk, CopyChunk, CopyChunk, CopyDone])
        copied = [r.id for m in self.sent if isinstance(m, CopyChunk) for r in m.records]
        self.assertEqual(copied, [1, 2, 3])
        self.assertEqual(self.sent[3], CopyDone({"node-a": 3}, 3))
        self.write(4)
        publication.pump()
        self.assertEqual(self.keys(self.sent[4]), [4])


def _entry(origin, *changes):
    return LogEntry(1, origin, 1, 1000.0, changes)
