"""
Tests for L{harper.database.groupcommit}.
"""

import threading
import time

from twisted.internet import defer, reactor, task
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

    @defer.inlineCallbacks
    def test_kept_snapshot_sees_acknowledged_writes(self) -> None:
        """
        A read after a write was acknowledged sees it, even when the reading thread read
        (and kept its snapshot) before the write.
        """
        yield self.put(8, name="eight")
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 8))["name"], "eight")
        yield self.put(8, name="huit")
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 8))["name"], "huit")

    @defer.inlineCallbacks
    def test_iteration_batched(self) -> None:
        """
        Writes submitted on the reactor thread in one reactor iteration reach the writer
        thread when the iteration ends, all together, and commit in one ZODB transaction
        (even though the writer was idle when the first was submitted).
        """
        yield task.deferLater(reactor, 0, lambda: None)  # now inside a reactor iteration
        storage = self.runner.db.storage
        before = storage.lastTransaction()
        started = threading.Event()

        def first(txn):
            started.set()
            return self.dogs.put(txn, {"id": 100, "name": "first"})

        writes = [self.writer.submit(first)]
        self.assertFalse(started.wait(0.1))
        writes += [self.put(n, name=f"d{n}") for n in range(5)]
        yield defer.gatherResults(writes)
        transactions = [t.tid for t in storage.iterator(before) if t.tid != before]
        self.assertEqual(len(transactions), 1)

    @defer.inlineCallbacks
    def test_stop_commits_batch(self) -> None:
        """
        Stopping the writer commits the writes submitted in the current reactor iteration.
        """
        yield task.deferLater(reactor, 0, lambda: None)  # now inside a reactor iteration
        write = self.put(9, name="nine")
        self.writer.stop()
        result = yield write
        self.assertEqual(result["name"], "nine")


class GatherTests(TestCase):
    """
    A writer that fell behind gathers the next group instead of committing a small one.
    """

    #: The writer's gather time: far longer than any test waits, so a wait shows.
    GATHER = 5.0

    def setUp(self) -> None:
        self.runner = file_runner(self)
        [self.dogs] = create_tables(self.runner, dog_definition())
        self.writer = GroupCommitter(self.runner, gather=self.GATHER)
        self.writer.start()
        self.addCleanup(self.writer.stop)

    def put(self, key):
        return self.writer.submit(lambda txn: self.dogs.put(txn, {"id": key, "name": f"d{key}"}))

    def transactions_since(self, before):
        return [t.tid for t in self.runner.db.storage.iterator(before) if t.tid != before]

    @defer.inlineCallbacks
    def test_behind_waits_for_previous_writers(self) -> None:
        """
        Writes that arrived while a group of one committed wait for one more write (the
        previous group's writer coming back) and commit with it, in one transaction, as soon
        as it arrives.
        """
        yield task.deferLater(reactor, 0, lambda: None)
        started, gate = threading.Event(), threading.Event()

        def block(txn):
            started.set()
            gate.wait(5)

        blocked = self.writer.submit(block)
        yield task.deferLater(reactor, 0, lambda: None)
        self.assertTrue(started.wait(5))  # the writer runs the first group, of one write
        waiting = [self.put(1), self.put(2)]
        yield task.deferLater(reactor, 0, lambda: None)  # queued meanwhile: it is behind
        before = self.runner.db.storage.lastTransaction()
        gate.set()
        yield blocked
        started = time.monotonic()
        late = task.deferLater(reactor, 0.2, self.put, 3)
        yield defer.gatherResults(waiting + [late])
        self.assertLess(time.monotonic() - started, self.GATHER / 2)
        self.assertEqual(len(self.transactions_since(before)), 1)

    @defer.inlineCallbacks
    def test_keeping_up_never_waits(self) -> None:
        """
        A writer with nothing waiting after its commit commits the next write at once.
        """
        started = time.monotonic()
        for key in range(3):
            yield self.put(key)
        self.assertLess(time.monotonic() - started, self.GATHER / 2)
