"""
Tests for L{harper.database.transaction}: atomicity, conflict retries, events after commit.
"""

import threading

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from harper.database.transaction import ReadOnlyTransaction
from harper.errors import NotFound
from harper.schema.model import TableDefinition
from tests.helpers import attribute, create_tables, dog_definition, file_runner


class Boom(Exception):
    """
    Raised by test work to force an abort.
    """


class TransactionTests(TestCase):
    """
    L{TransactionRunner} over a FileStorage.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        owners = TableDefinition(
            type_name="Owner", name="Owner", attributes=(attribute("id", "Int", primary_key=True),)
        )
        self.dogs, self.owners = create_tables(self.runner, dog_definition(), owners)
        self.events = []
        self.runner.feed.listen(self.events.append)

    def test_two_tables_all_or_nothing(self) -> None:
        """
        When the second write of a transaction fails, the first is not stored either, and no
        change event is emitted.
        """

        def work(txn):
            self.dogs.put(txn, {"id": 1, "name": "Rex"})
            self.owners.patch(txn, 99, {"name": "nobody"})

        self.assertRaises(NotFound, self.runner.run_blocking, work)
        self.assertIsNone(self.runner.run_blocking(lambda txn: self.dogs.get(txn, 1)))
        self.assertEqual(self.events, [])

    def test_events_after_commit(self) -> None:
        """
        Events reach listeners once the transaction committed, one per written record.
        """
        seen_during = []

        def work(txn):
            self.dogs.put(txn, {"id": 1, "name": "Rex"})
            self.owners.put(txn, {"id": 7})
            seen_during.append(list(self.events))

        self.runner.run_blocking(work)
        self.assertEqual(seen_during, [[]])
        self.assertEqual([(e.table, e.id, e.type) for e in self.events], [("Dog", 1, "put"), ("Owner", 7, "put")])

    def test_aborted_work_raises_original(self) -> None:
        """
        Any exception aborts and propagates unchanged.
        """

        def work(txn):
            self.dogs.put(txn, {"id": 1})
            raise Boom()

        self.assertRaises(Boom, self.runner.run_blocking, work)
        self.assertEqual(self.runner.run_blocking(self.dogs.count), 0)

    @defer.inlineCallbacks
    def test_run_on_pool(self) -> None:
        """
        L{TransactionRunner.run} runs on the pool and fires after events were delivered.
        """
        record = yield self.runner.run(lambda txn: self.dogs.put(txn, {"id": 3, "name": "Pool"}))
        self.assertEqual(record["name"], "Pool")
        self.assertEqual([e.id for e in self.events], [3])

    def test_conflict_retried(self) -> None:
        """
        Two connections that read the same record and both write it conflict; the loser is
        retried and both increments survive.
        """
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": 1, "age": 0}))
        barrier = threading.Barrier(2, timeout=10)
        attempts = []

        def increment(txn):
            attempts.append(txn.attempt)
            current = self.dogs.get(txn, 1)
            if txn.attempt == 1:
                barrier.wait()
            self.dogs.put(txn, dict(current, age=current["age"] + 1))

        threads = [threading.Thread(target=self.runner.run_blocking, args=(increment,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(self.runner.run_blocking(lambda txn: self.dogs.get(txn, 1))["age"], 2)
        self.assertEqual(sorted(attempts), [1, 1, 2])

    def test_nested_joins(self) -> None:
        """
        A nested blocking call from running work joins the outer transaction.
        """

        def work(txn):
            self.dogs.put(txn, {"id": 5})
            return self.runner.run_blocking(lambda inner: inner is txn and self.dogs.get(inner, 5))

        self.assertEqual(self.runner.run_blocking(work), {"id": 5})


class ReadLaneTests(TestCase):
    """
    L{TransactionRunner.read}: read-only snapshots on the calling thread.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        [self.dogs] = create_tables(self.runner, dog_definition())

    def test_read_sees_commits(self) -> None:
        """
        Each read starts from the latest committed state.
        """
        self.assertIsNone(self.runner.read(lambda txn: self.dogs.get(txn, 1)))
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": 1, "name": "Rex"}))
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 1))["name"], "Rex")

    def test_read_refuses_writes(self) -> None:
        """
        Writing in a read is refused and leaves nothing behind.
        """
        self.assertRaises(
            ReadOnlyTransaction, self.runner.read, lambda txn: self.dogs.put(txn, {"id": 2})
        )
        self.assertIsNone(self.runner.read(lambda txn: self.dogs.get(txn, 2)))

    def test_snapshot_kept_between_reads(self) -> None:
        """
        Reads with no commit in between share one ZODB transaction (the snapshot is kept).
        """
        first = self.runner.read(lambda txn: txn.connection.transaction_manager.get())
        second = self.runner.read(lambda txn: txn.connection.transaction_manager.get())
        self.assertIs(first, second)

    def test_kept_snapshot_sees_other_threads_commits(self) -> None:
        """
        A commit made on another thread's connection after a read is seen by the next read on
        this thread, which renews its snapshot for it.
        """
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": 3, "name": "Rex"}))
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 3))["name"], "Rex")

        def rename(txn):
            return self.dogs.put(txn, {"id": 3, "name": "Max"})

        writer = threading.Thread(target=self.runner.run_blocking, args=(rename,))
        writer.start()
        writer.join(10)
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 3))["name"], "Max")

    def test_changes_in_memory_dropped(self) -> None:
        """
        A read that changes a persistent object in memory (bypassing the table API) leaves
        nothing for the next read to see.
        """
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": 4, "name": "Rex"}))

        def tamper(txn):
            self.dogs.entry(txn, 4).value = {"id": 4, "name": "tampered"}

        self.runner.read(tamper)
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 4))["name"], "Rex")

    def test_failed_read_dropped(self) -> None:
        """
        A read that raises after changing an object in memory leaves nothing behind either.
        """
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": 5, "name": "Rex"}))

        def tamper_then_fail(txn):
            self.dogs.entry(txn, 5).value = {"id": 5, "name": "tampered"}
            raise Boom()

        self.assertRaises(Boom, self.runner.read, tamper_then_fail)
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 5))["name"], "Rex")
