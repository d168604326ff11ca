"""
Tests for the hooks replication adds to the database layer:
L{harper.database.transaction.TransactionRunner.add_commit_step} (run by plain transactions
and by the group commit) and L{harper.database.transaction.TransactionRunner.observe_timestamp}.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.database.groupcommit import GroupCommitter
from tests.helpers import create_tables, dog_definition, file_runner


class CommitStepTests(TestCase):
    """
    Commit steps write in the transaction of the work they follow.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self, threads=2)
        [self.table] = create_tables(self.runner, dog_definition())
        self.seen = []

        def step(txn):
            self.seen.append([event.id for event in txn.changes])
            txn.connection.root()["steps"] = len(self.seen)
            if any(event.id == 13 for event in txn.changes):
                raise ValueError("unlucky")

        self.remove = self.runner.add_commit_step(step)

    def steps(self):
        return self.runner.read(lambda txn: txn.connection.root().get("steps"))

    def test_runs_for_writing_transactions(self) -> None:
        """
        The step sees the transaction's changes and commits with it; transactions without
        changes do not run it.
        """
        self.runner.run_blocking(lambda txn: self.table.put(txn, {"id": 1}))
        self.runner.run_blocking(lambda txn: self.table.get(txn, 1))
        self.assertEqual((self.seen, self.steps()), ([[1]], 1))

    def test_failing_step_aborts(self) -> None:
        """
        A step that raises aborts the transaction: the work's writes are gone too.
        """
        self.assertRaises(
            ValueError,
            self.runner.run_blocking,
            lambda txn: self.table.put(txn, {"id": 13}),
        )
        self.assertIsNone(self.runner.read(lambda txn: self.table.get(txn, 13)))

    def test_removed(self) -> None:
        """
        A removed step no longer runs.
        """
        self.remove()
        self.runner.run_blocking(lambda txn: self.table.put(txn, {"id": 1}))
        self.assertEqual(self.seen, [])

    @inlineCallbacks
    def test_group_commit(self) -> None:
        """
        The group commit runs the step once per write of the group; a write whose step fails
        is taken out alone.
        """
        writer = GroupCommitter(self.runner)
        writer.start()
        self.addCleanup(writer.stop)
        good = writer.submit(lambda txn: self.table.put(txn, {"id": 1}))
        bad = writer.submit(lambda txn: self.table.put(txn, {"id": 13}))
        yield good
        yield self.assertFailure(bad, ValueError)
        self.assertIn([1], self.seen)
        self.assertEqual(
            self.runner.read(lambda txn: [e.value["id"] for e in self.table.scan(txn)]),
            [1],
        )


class ObserveTimestampTests(TestCase):
    """
    The transaction clock moves past timestamps seen from other nodes.
    """

    def test_observe(self) -> None:
        """
        After observing a timestamp ahead of the clock, new timestamps are greater; an older
        one changes nothing.
        """
        runner = file_runner(self, threads=1)
        ahead = runner.timestamp() + 60_000.0
        runner.observe_timestamp(ahead)
        self.assertGreater(runner.timestamp(), ahead)
        runner.observe_timestamp(1.0)
        self.assertGreater(runner.timestamp(), ahead)
