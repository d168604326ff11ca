"""
Tests for L{harper.replication.log} and L{harper.replication.recorder}: what local
transactions write to the change log, and how the log answers a subscriber.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.database.events import DELETE, MESSAGE, PATCH, PUT, ChangeEvent
from harper.replication.entries import Change
from harper.replication.log import replication_state
from tests.replication.helpers import local_replica


class RecorderTests(TestCase):
    """
    Each local transaction that changes replicated tables becomes one log entry.
    """

    def setUp(self) -> None:
        self.replica, self.table = local_replica(self)
        self.runner = self.replica.runner

    def entries(self):
        return self.runner.read(lambda txn: self.replica.log.read(txn, 0, 100))

    def test_one_entry_per_transaction(self) -> None:
        """
        A transaction writing two records is one entry with two changes, stamped with the
        transaction's timestamp and this node as origin.
        """
        def work(txn):
            self.table.put(txn, {"id": 1, "name": "a"})
            self.table.put(txn, {"id": 2, "name": "b"})
            return txn.timestamp

        stamp = self.runner.run_blocking(work)
        [entry] = self.entries()
        self.assertEqual(
            (entry.seq, entry.origin, entry.origin_seq, entry.timestamp),
            (1, "node-a", 1, stamp),
        )
        self.assertEqual([(c.type, c.id) for c in entry.changes], [(PUT, 1), (PUT, 2)])

    def test_patch_names_its_attributes(self) -> None:
        """
        A patch is logged with the attributes it set.
        """
        self.runner.run_blocking(lambda txn: self.table.put(txn, {"id": 1, "name": "a", "age": 1}))
        self.runner.run_blocking(lambda txn: self.table.patch(txn, 1, {"age": 2}))
        change = self.entries()[1].changes[0]
        self.assertEqual((change.type, change.patched, change.value["age"]), (PATCH, ("age",), 2))

    def test_deletes_and_messages(self) -> None:
        """
        Deletes and published messages are logged; reads are not.
        """
        self.runner.run_blocking(lambda txn: self.table.put(txn, {"id": 1}))
        self.runner.run_blocking(lambda txn: self.table.delete(txn, 1))
        self.runner.run_blocking(lambda txn: txn.record_change(
            ChangeEvent("data", "Dog", 1, MESSAGE, {"hi": 1}, txn.timestamp)))
        self.runner.run_blocking(lambda txn: self.table.get(txn, 1))
        self.assertEqual([e.changes[0].type for e in self.entries()], [PUT, DELETE, MESSAGE])

    def test_tables_not_replicated(self) -> None:
        """
        Tables declared C{replicate: false} are not logged.
        """
        replica, table = local_replica(self, replicate=False)
        replica.runner.run_blocking(lambda txn: table.put(txn, {"id": 1}))
        self.assertEqual(replica.tables, [])
        self.assertEqual(replica.runner.read(replica.log.head), 0)

    def test_aborted_transaction_leaves_no_entry(self) -> None:
        """
        Work that fails leaves nothing in the log.
        """
        def failing(txn):
            self.table.put(txn, {"id": 1})
            raise RuntimeError("no")

        self.assertRaises(RuntimeError, self.runner.run_blocking, failing)
        self.assertEqual(self.entries(), [])

    def test_stop_recording(self) -> None:
        """
        After C{stop_recording} local transactions are not logged.
        """
        self.replica.stop_recording()
        self.runner.run_blocking(lambda txn: self.table.put(txn, {"id": 1}))
        self.assertEqual(self.entries(), [])


class SubscriberPositionTests(TestCase):
    """
    Where a subscriber's stream starts, and when it needs a base copy.
    """

    def setUp(self) -> None:
        self.replica, _ = local_replica(self)
        self.log = self.replica.log
        self.runner = self.replica.runner

    def append(self, origin: str, origin_seq: int, timestamp: float = 1.0) -> int:
        change = Change("data", "Dog", origin_seq, PUT, {"id": origin_seq})

        def work(txn):
            seq = self.log.append(txn, origin, origin_seq, timestamp, [change])
            self.log.mark_applied(txn, origin, origin_seq)
            return seq

        return self.runner.run_blocking(work)

    def ask(self, method, *args):
        return self.runner.read(lambda txn: method(txn, *args))

    def test_vector(self) -> None:
        """
        The vector holds the highest applied entry per origin, and the head for this node.
        """
        self.append("node-b", 4)
        self.append("node-c", 2)
        self.assertEqual(self.ask(self.log.vector), {"node-a": 2, "node-b": 4, "node-c": 2})
        self.assertTrue(self.ask(self.log.is_applied, "node-b", 4))
        self.assertFalse(self.ask(self.log.is_applied, "node-b", 5))

    def test_start_after_what_the_subscriber_has(self) -> None:
        """
        The stream starts at the first entry the subscriber's vector lacks, whatever its
        origin; the subscriber's own entries do not count.
        """
        self.append("node-b", 1)
        self.append("node-c", 1)
        self.append("node-b", 2)
        self.assertEqual(self.ask(self.log.start, {"node-b": 1, "node-c": 1}, "node-d"), 2)
        self.assertEqual(self.ask(self.log.start, {"node-b": 0, "node-c": 1}, "node-d"), 0)
        self.assertEqual(self.ask(self.log.start, {"node-c": 1}, "node-b"), 3)

    def test_new_subscriber_needs_copy(self) -> None:
        """
        A subscriber with nothing from this node needs a base copy.
        """
        reason = self.ask(self.log.missing_history, {}, "node-d")
        self.assertEqual(reason, "node-d has no data from node-a yet")
        self.assertIsNone(self.ask(self.log.missing_history, {"node-a": 0}, "node-d"))

    def test_pruned_entries(self) -> None:
        """
        Pruning removes entries older than the cutoff; a subscriber that lacks one of them
        needs a base copy, one that has them does not.
        """
        self.append("node-b", 1, timestamp=10.0)
        self.append("node-b", 2, timestamp=20.0)
        removed = self.runner.run_blocking(lambda txn: self.log.prune(txn, 15.0))
        self.assertEqual(removed, 1)
        self.assertEqual([e.origin_seq for e in self.ask(self.log.read, 0, 10)], [2])
        self.assertIn("pruned", self.ask(self.log.missing_history, {"node-a": 0}, "node-d"))
        self.assertIsNone(self.ask(self.log.missing_history, {"node-a": 0, "node-b": 1}, "node-d"))
        self.assertIsNone(self.ask(self.log.missing_history, {"node-a": 0}, "node-b"))

    def test_absorbed_copy_counts_as_pruned(self) -> None:
        """
        Entries received with a base copy are applied but not in this log: a subscriber
        lacking them needs a base copy in turn.
        """
        self.runner.run_blocking(lambda txn: self.log.absorb(txn, {"node-b": 5, "node-a": 99}))
        self.assertEqual(self.ask(self.log.vector), {"node-a": 0, "node-b": 5})
        self.assertIn(
            "pruned",
            self.ask(self.log.missing_history, {"node-a": 0, "node-b": 4}, "node-d"),
        )
        state = self.runner.read(replication_state)
        self.assertEqual(dict(state.pruned), {"node-b": 5})
