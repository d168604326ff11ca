"""
Tests for L{harper.replication.apply} and L{harper.replication.versions}: entries and base
copies from peers applied to a node's tables.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.database.events import DELETE, PATCH, PUT
from harper.replication.conflict import RecordState
from harper.replication.entries import Change, CopiedRecord, LogEntry
from harper.replication.log import replication_state
from tests.replication.helpers import local_replica

T1, T2, T3 = 1000.0, 2000.0, 3000.0


def entry(seq: int, origin: str, origin_seq: int, timestamp: float, *changes: Change) -> LogEntry:
    return LogEntry(seq, origin, origin_seq, timestamp, changes)


def put(key: int, **value) -> Change:
    return Change("data", "Dog", key, PUT, {"id": key, **value})


class ApplyEntriesTests(TestCase):
    """
    Entries are applied once, by the conflict rule, through the table's write path.
    """

    def setUp(self) -> None:
        self.replica, self.table = local_replica(self)
        self.runner = self.replica.runner
        self.events = []
        self.runner.feed.listen(self.events.append)

    def apply(self, *entries: LogEntry, peer: str = "node-b") -> int:
        through = entries[-1].seq if entries else 0
        return self.runner.run_blocking(
            lambda txn: self.replica.applier.apply_entries(txn, peer, entries, through))

    def get(self, key):
        return self.runner.read(lambda txn: self.table.get(txn, key))

    def test_applied_with_origin_time(self) -> None:
        """
        A put from a peer is stored as sent, its event and record version carry the origin's
        timestamp, and the entry is logged here with its origin (for forwarding).
        """
        self.assertEqual(self.apply(entry(1, "node-b", 1, T1, put(1, name="Rex"))), 1)
        self.assertEqual(self.get(1), {"id": 1, "name": "Rex"})
        self.assertEqual([(e.type, e.timestamp) for e in self.events], [(PUT, T1)])
        [logged] = self.runner.read(lambda txn: self.replica.log.read(txn, 0, 10))
        self.assertEqual((logged.origin, logged.origin_seq, logged.timestamp), ("node-b", 1, T1))
        self.assertEqual(
            self.runner.read(lambda txn: dict(replication_state(txn).positions)),
            {"node-b": 1},
        )

    def test_duplicates_ignored(self) -> None:
        """
        An entry already applied (same origin and origin seq, from any peer) changes nothing
        and is not logged again.
        """
        first = entry(1, "node-b", 1, T1, put(1, name="Rex"))
        self.apply(first)
        self.assertEqual(
            self.apply(entry(7, "node-b", 1, T1, put(1, name="Rex")), peer="node-c"),
            0,
        )
        self.assertEqual(len(self.events), 1)
        self.assertEqual(self.runner.read(self.replica.log.head), 1)

    def test_own_entries_ignored(self) -> None:
        """
        Entries that originated on this node are never applied again.
        """
        self.assertEqual(self.apply(entry(1, "node-a", 1, T1, put(1, name="echo"))), 0)
        self.assertIsNone(self.get(1))

    def test_older_write_changes_nothing(self) -> None:
        """
        A write older than the record is logged (to forward) but neither stored nor
        emitted.
        """
        self.apply(entry(1, "node-b", 1, T2, put(1, name="new")))
        self.apply(entry(1, "node-c", 1, T1, put(1, name="old")), peer="node-c")
        self.assertEqual(self.get(1)["name"], "new")
        self.assertEqual(len(self.events), 1)
        self.assertEqual(self.runner.read(self.replica.log.head), 2)

    def test_patch_and_delete(self) -> None:
        """
        Patches emit patch events for the attributes that won; deletes remove the record and
        leave a tombstone that an older put cannot pass.
        """
        self.apply(entry(1, "node-b", 1, T1, put(1, name="Rex", age=1)))
        patch = Change("data", "Dog", 1, PATCH, {"id": 1, "name": "Rex", "age": 2}, ("age",))
        self.apply(entry(2, "node-b", 2, T2, patch))
        self.assertEqual((self.events[-1].type, self.events[-1].patched), (PATCH, ("age",)))
        self.apply(entry(3, "node-b", 3, T3, Change("data", "Dog", 1, DELETE, None)))
        self.assertIsNone(self.get(1))
        self.apply(entry(1, "node-c", 1, T2, put(1, name="late")), peer="node-c")
        self.assertIsNone(self.get(1))
        self.assertEqual([e.type for e in self.events], [PUT, PATCH, DELETE])

    def test_unknown_table_skipped(self) -> None:
        """
        Changes of tables this node does not replicate are skipped; the entry still counts.
        """
        self.apply(entry(1, "node-b", 1, T1, Change("data", "Cat", 1, PUT, {"id": 1})))
        self.assertTrue(self.runner.read(lambda txn: self.replica.log.is_applied(txn, "node-b", 1)))
        self.assertEqual(self.events, [])

    def test_local_write_after_remote_is_newer(self) -> None:
        """
        After observing a peer's timestamp far ahead, this node's next write is newer still
        (hybrid logical clock), so it wins over the peer's.
        """
        future = self.runner.timestamp() + 3_600_000.0
        self.replica.observe(future)
        self.apply(entry(1, "node-b", 1, future, put(1, name="remote")))
        self.runner.run_blocking(lambda txn: self.table.put(txn, {"id": 1, "name": "local"}))
        state = self.runner.read(lambda txn: self.replica.versions.state(txn, self.table, 1))
        self.assertGreater(state.base, (future, "node-b"))
        self.assertEqual(state.value["name"], "local")


class CopyAndTombstoneTests(TestCase):
    """
    Base copies merge; tombstones are purged once confirmed.
    """

    def setUp(self) -> None:
        self.replica, self.table = local_replica(self)
        self.runner = self.replica.runner

    def test_copy_keeps_local_only_and_newer_records(self) -> None:
        """
        A base copy adds missing records, replaces older ones, deletes by newer tombstones and
        leaves records only this node has, or has newer, alone.
        """
        runner, table = self.runner, self.table
        for key in (1, 2, 3, 4):
            runner.run_blocking(
                lambda txn,
                key=key: table.put(txn, {"id": key, "name": f"local {key}"}),
            )
        now = runner.timestamp()
        copied = [
            CopiedRecord("data", "Dog", 2, {"id": 2, "name": "copied newer"}, (now + 10, "node-b")),
            CopiedRecord("data", "Dog", 3, {"id": 3, "name": "copied older"}, (1.0, "node-b")),
            CopiedRecord("data", "Dog", 4, None, (now + 10, "node-b")),
            CopiedRecord("data", "Dog", 5, {"id": 5, "name": "copied new"}, (1.0, "node-b")),
        ]
        changed = runner.run_blocking(lambda txn: self.replica.applier.apply_copy(txn, copied))
        self.assertEqual(changed, 3)
        names = runner.read(lambda txn: [e.value["name"] for e in table.scan(txn)])
        self.assertEqual(names, ["local 1", "copied newer", "local 3", "copied new"])

    def test_tombstones_purged_when_confirmed(self) -> None:
        """
        A delete's tombstone stays until the purge point passes its log position.
        """
        runner, table, versions = self.runner, self.table, self.replica.versions
        runner.run_blocking(lambda txn: table.put(txn, {"id": 1}))
        runner.run_blocking(lambda txn: table.delete(txn, 1))
        state = runner.read(lambda txn: versions.state(txn, table, 1))
        self.assertIsNone(state.value)
        self.assertEqual(
            runner.read(lambda txn: [k for k, _ in versions.tombstones(txn, table)]),
            [1],
        )
        self.assertEqual(runner.run_blocking(lambda txn: versions.purge(txn, 1)), 0)
        self.assertEqual(runner.run_blocking(lambda txn: versions.purge(txn, 2)), 1)
        self.assertEqual(runner.read(lambda txn: versions.tombstones(txn, table)), [])
        self.assertEqual(runner.read(lambda txn: versions.state(txn, table, 1)), RecordState(None))
