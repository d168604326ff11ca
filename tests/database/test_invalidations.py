"""
Tests for L{harper.database.transaction.TransactionRunner.bound_invalidations}: an idle
connection's queue of invalidated objects stays bounded under a stream of commits.
"""

from twisted.trial.unittest import TestCase

from tests.helpers import create_tables, dog_definition, file_runner


class BoundInvalidationsTests(TestCase):
    """
    ZODB queues the objects each commit changed for every other open connection; the runner
    turns a long queue into "everything changed".
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        [self.dogs] = create_tables(self.runner, dog_definition())
        self.runner.read(lambda txn: self.dogs.entry(txn, 1))
        [self.snapshot] = self.runner._snapshots

    def queued(self):
        return self.snapshot.connection._storage._invalidations

    def put_many(self, count: int, name: str) -> None:
        for key in range(count):
            self.put(key, f"{name}{key}")

    def put(self, key: int, name: str) -> None:
        self.runner.run_blocking(lambda txn: self.dogs.put(txn, {"id": key, "name": name}))

    def test_long_queue_becomes_everything(self) -> None:
        """
        The idle read connection's queue grows with each commit until it passes the limit,
        then it is replaced by "everything changed", and the next read still sees the latest
        committed records.
        """
        self.put_many(30, "a")
        self.assertGreater(len(self.queued()), 5)
        self.runner.bound_invalidations(limit=5)
        self.assertIsNone(self.queued())
        entry = self.runner.read(lambda txn: self.dogs.entry(txn, 29))
        self.assertEqual(entry.value["name"], "a29")

    def test_short_queue_kept(self) -> None:
        """
        A queue within the limit is left as it is (the read snapshot can still tell that
        nothing changed).
        """
        self.put_many(2, "b")
        before = set(self.queued())
        self.runner.bound_invalidations(limit=10_000)
        self.assertEqual(set(self.queued()), before)

    def test_commits_bound_queues(self) -> None:
        """
        Every commit bounds the queues (at 20,000 objects by default; a small limit here):
        under a stream of commits the idle queue never passes the limit by more than one
        commit's objects, where without the bound it would hold every object changed.
        """
        bound = self.runner.bound_invalidations
        self.runner.bound_invalidations = lambda limit=20: bound(limit)
        sizes = []
        for key in range(200):
            self.put(key, f"c{key}")
            queued = self.queued()
            sizes.append(0 if queued is None else len(queued))
        self.assertLess(max(sizes), 30)
        self.assertIn(0, sizes)
