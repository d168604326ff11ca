"""
Tests for L{harper.database.audit}: audit entries commit and abort with the writes, keep the
records before each change, read back as change events, and expire.
"""

from __future__ import annotations

import time

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from harper.database.audit import AuditHistory, AuditLog, AuditPruner
from harper.database.groupcommit import GroupCommitter
from harper.errors import NotFound
from harper.schema.model import TableDefinition
from tests.helpers import attribute, create_tables, dog_definition, file_runner


class Boom(Exception):
    """
    Raised by test work to force an abort.
    """


def summary(runner, log, table="Dog", database="data"):
    """
    The (type, id, value, original, user) of every logged change of a table, oldest first.
    """

    def read(txn):
        return [
            (change.type, change.id, change.value, change.original, change.user)
            for change in log.changes(txn, database, table)
        ]

    return runner.run_blocking(read)


class AuditLogTests(TestCase):
    """
    L{AuditLog} as a commit step of a runner over FileStorage.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        hidden = TableDefinition(
            type_name="Secret", name="Secret", database="system",
            attributes=(attribute("id", "Int", primary_key=True),),
        )
        self.dogs, self.secrets = create_tables(self.runner, dog_definition(), hidden)
        self.log = AuditLog(excluded=("system",))
        self.addCleanup(self.runner.add_commit_step(self.log))

    def test_write_and_entry_commit_together(self) -> None:
        """
        A committed write has one entry, keyed by the transaction's timestamp, naming the
        user, the record after the write and (for an update) the record before it.
        """
        stamps = []

        def write(name):
            def work(txn):
                stamps.append(txn.timestamp)
                self.dogs.put(txn, {"id": 1, "name": name}, user="admin")

            return work

        self.runner.run_blocking(write("Rex"))
        self.runner.run_blocking(write("Max"))
        changes = summary(self.runner, self.log)
        self.assertEqual(
            [(kind, key, value["name"], original and original["name"], user)
             for kind, key, value, original, user in changes],
            [("put", 1, "Rex", None, "admin"), ("put", 1, "Max", "Rex", "admin")],
        )
        keys = self.runner.run_blocking(lambda txn: list(self.log.trail(txn, "data", "Dog").keys()))
        self.assertEqual(keys, stamps)

    def test_group_commit_shares_one_entry(self) -> None:
        """
        The units of work of one group commit add one entry per table, in which each change
        keeps its unit's timestamp; a unit that fails takes no change into the log, and the
        others are logged when the group is committed again without it.
        """
        committer = GroupCommitter(self.runner)
        stamps = []

        def put(key):
            def work(txn):
                stamps.append((key, txn.timestamp))
                self.dogs.put(txn, {"id": key})

            return work

        def failing(txn):
            self.dogs.put(txn, {"id": 99})
            raise Boom()

        refused: Deferred = Deferred()
        refused.addErrback(lambda failure: failure.trap(Boom))
        group = [(put(1), Deferred()), (failing, refused), (put(2), Deferred())]
        committer._commit_group(group)
        changes = self.runner.run_blocking(lambda txn: list(self.log.changes(txn, "data", "Dog")))
        committed = dict(stamps[-2:])
        self.assertEqual([(c.id, c.timestamp) for c in changes], [(1, committed[1]), (2, committed[2])])
        keys = self.runner.run_blocking(lambda txn: list(self.log.trail(txn, "data", "Dog").keys()))
        self.assertEqual(keys, [committed[1]])
        since = self.runner.run_blocking(lambda txn: [c.id for c in self.log.changes(txn, "data", "Dog", committed[2])])
        self.assertEqual(since, [2])

    def test_aborted_write_leaves_no_entry(self) -> None:
        """
        Work that fails after writing aborts: neither the record nor an audit entry exists.
        """

        def work(txn):
            self.dogs.put(txn, {"id": 1, "name": "Rex"})
            raise Boom()

        self.assertRaises(Boom, self.runner.run_blocking, work)
        self.assertEqual(summary(self.runner, self.log), [])
        self.assertIsNone(self.runner.run_blocking(lambda txn: self.log.trail(txn, "data", "Dog")))

    def test_failed_patch_rolls_back_earlier_write(self) -> None:
        """
        When a later write of the transaction fails, the entry of the earlier one goes too.
        """

        def work(txn):
            self.dogs.put(txn, {"id": 1, "name": "Rex"})
            self.dogs.patch(txn, 99, {"name": "nobody"})

        self.assertRaises(NotFound, self.runner.run_blocking, work)
        self.assertEqual(summary(self.runner, self.log), [])

    def test_delete_and_patch_keep_originals(self) -> None:
        """
        A patch records the attributes it set and the record before; a delete the record it
        removed; one transaction's changes share one entry, in order.
        """
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": 1, "name": "Rex", "age": 3}))

        def work(txn):
            self.dogs.patch(txn, 1, {"age": 4})
            self.dogs.delete(txn, 1)

        self.runner.run_blocking(work)

        def changes(txn):
            return list(self.log.changes(txn, "data", "Dog"))

        _created, patch, delete = self.runner.run_blocking(changes)
        self.assertEqual(patch.timestamp, delete.timestamp)
        self.assertEqual((patch.type, patch.patched, patch.value["age"], patch.original["age"]), ("patch", ("age",), 4, 3))
        self.assertEqual((delete.type, delete.value, delete.original["age"]), ("delete", None, 4))

    def test_excluded_database(self) -> None:
        """
        Writes to an excluded database (harper's own C{system} tables) are not logged.
        """
        self.runner.run_blocking(lambda txn: self.secrets.put(txn, {"id": 1}))
        self.assertEqual(summary(self.runner, self.log, "Secret", "system"), [])

    def test_delete_before(self) -> None:
        """
        L{AuditLog.delete_before} removes a table's entries older than a time, and no other.
        """
        for key in range(3):
            self.runner.run_blocking(lambda txn, key=key: self.dogs.put(txn, {"id": key}))
        stamps = self.runner.run_blocking(lambda txn: list(self.log.trail(txn, "data", "Dog").keys()))
        removed = self.runner.run_blocking(lambda txn: self.log.delete_before(txn, "data", "Dog", stamps[2]))
        self.assertEqual(removed, 2)
        self.assertEqual([key for _, key, *_ in summary(self.runner, self.log)], [2])


class AuditHistoryTests(TestCase):
    """
    L{AuditHistory}: the log read back as change events.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        (self.dogs,) = create_tables(self.runner, dog_definition())
        log = AuditLog()
        self.addCleanup(self.runner.add_commit_step(log))
        self.history = AuditHistory(self.runner, log)
        self.stamps = []
        for key in range(5):
            self.runner.run_blocking(lambda txn, key=key: self._write(txn, key))

    def _write(self, txn, key):
        self.stamps.append(txn.timestamp)
        self.dogs.put(txn, {"id": key % 2, "name": f"dog {key}"})

    def test_since(self) -> None:
        """
        Events from a start time on (inclusive), oldest first, as the feed emitted them.
        """
        events = self.history.events("data", "Dog", lambda event: True, self.stamps[2])
        self.assertEqual([e.value["name"] for e in events], ["dog 2", "dog 3", "dog 4"])
        self.assertEqual([e.timestamp for e in events], self.stamps[2:])

    def test_last_accepted(self) -> None:
        """
        The last N accepted events, oldest first.
        """
        events = self.history.events("data", "Dog", lambda event: event.id == 0, count=2)
        self.assertEqual([e.value["name"] for e in events], ["dog 2", "dog 4"])

    def test_count_capped(self) -> None:
        """
        C{count} above L{AuditHistory.MAX_PREVIOUS} returns at most that many.
        """
        self.patch(AuditHistory, "MAX_PREVIOUS", 3)
        events = self.history.events("data", "Dog", lambda event: True, count=10)
        self.assertEqual([e.value["name"] for e in events], ["dog 2", "dog 3", "dog 4"])

    def test_unknown_table(self) -> None:
        """
        A table with no entries has no history.
        """
        self.assertEqual(self.history.events("data", "Cat", lambda event: True, 0.0), [])


class AuditPrunerTests(TestCase):
    """
    L{AuditPruner} on a fake clock.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        (self.dogs,) = create_tables(self.runner, dog_definition())
        self.log = AuditLog()
        self.addCleanup(self.runner.add_commit_step(self.log))
        self.clock = Clock()

    async def test_prunes_expired_entries(self) -> None:
        """
        L{AuditPruner.prune} removes, batch by batch, the entries older than the retention
        and keeps the younger ones.
        """
        for key in range(5):
            self.runner.run_blocking(lambda txn, key=key: self.dogs.put(txn, {"id": key}))
        time.sleep(0.02)
        stamps = []

        def young(txn):
            stamps.append(txn.timestamp)
            self.dogs.put(txn, {"id": 9})

        self.runner.run_blocking(young)
        # Now is 30 s of retention after 10 ms before the young write.
        self.clock.advance(stamps[0] / 1000.0 - 0.01 + 30.0)
        pruner = AuditPruner(self.runner, self.log, self.clock, retention=30.0, batch=2)
        self.assertEqual(await pruner.prune(), 5)
        self.assertEqual([key for _, key, *_ in summary(self.runner, self.log)], [9])
        self.assertEqual(await pruner.prune(), 0)

    def test_runs_every_interval(self) -> None:
        """
        Started, the pruner prunes every tenth of the retention, the first time one interval
        later; a failed pruning is logged and the next one still runs.
        """
        calls = []

        def prune():
            calls.append(self.clock.seconds())
            return fail(Boom()) if len(calls) == 1 else succeed(0)

        pruner = AuditPruner(self.runner, self.log, self.clock, retention=600.0)
        pruner.prune = prune
        pruner.start()
        self.addCleanup(pruner.stop)
        self.assertEqual(calls, [])
        for _ in range(3):
            self.clock.advance(60.0)
        self.assertEqual(calls, [60.0, 120.0, 180.0])
        self.assertEqual(len(self.flushLoggedErrors(Boom)), 1)

    def test_interval_bounds(self) -> None:
        """
        The interval is a tenth of the retention, at least a second and at most an hour.
        """
        intervals = [AuditPruner(self.runner, self.log, self.clock, retention).interval for retention in (5.0, 600.0, 3 * 86400.0)]
        self.assertEqual(intervals, [1.0, 60.0, 3600.0])
