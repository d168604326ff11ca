"""
Tests for L{harper.database.groupcommit}.
"""

import threading

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from harper.database.groupcommit import GroupCommitter
from harper.errors import NotFound
from tests.helpers import create_tables, dog_definition, file_runner


class GroupCommitTests(TestCase):
    """
    Writes through the writer thread.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        [self.dogs] = create_tables(self.runner, dog_definition())
        self.writer = GroupCommitter(self.runner)
        self.writer.start()
        self.addCleanup(self.writer.stop)
        self.events = []
        self.runner.feed.listen(self.events.append)

    def put(self, key, **values):
        return self.writer.submit(lambda txn: self.dogs.put(txn, dict(values, id=key)))

    @defer.inlineCallbacks
    def test_writes_grouped(self) -> None:
        """
        Writes queued together commit together; each caller gets its own result and event.
        """
        gate = threading.Event()
        blocked = self.writer.submit(lambda txn: gate.wait(5))
        writes = [self.put(n, name=f"d{n}") for n in range(10)]
        gate.set()
        yield blocked
        results = yield defer.gatherResults(writes)
        self.assertEqual([r["name"] for r in results], [f"d{n}" for n in range(10)])
        self.assertEqual([e.id for e in self.events], list(range(10)))
        versions = self.runner.run_blocking(lambda txn: {self.dogs.entry(txn, n).version for n in range(10)})
        self.assertEqual(len(versions), 10)

    @defer.inlineCallbacks
    def test_failed_write_leaves_others(self) -> None:
        """
        A write that fails in the middle of a group fails alone and leaves no trace.
        """
        gate = threading.Event()
        blocked = self.writer.submit(lambda txn: gate.wait(5))
        first = self.put(1, name="one")

        def half_then_fail(txn):
            self.dogs.put(txn, {"id": 2, "name": "two"})
            self.dogs.patch(txn, 99, {"name": "missing"})

        failing = self.writer.submit(half_then_fail)
        third = self.put(3, name="three")
        gate.set()
        yield blocked
        yield first
        yield third
        yield self.assertFailure(failing, NotFound)
        stored = self.runner.run_blocking(lambda txn: sorted(e.value["id"] for e in self.dogs.scan(txn)))
        self.assertEqual(stored, [1, 3])
        self.assertEqual([e.id for e in self.events], [1, 3])

    @defer.inlineCallbacks
    def test_reads_see_committed_writes(self) -> None:
        """
        A read on the calling thread after a write's Deferred fired sees the write.
        """
        yield self.put(7, name="seven")
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 7))["name"], "seven")
