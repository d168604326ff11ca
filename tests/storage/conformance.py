"""
The database-layer behaviour every storage backend must have, as mixins for trial test cases.

A test case mixes L{StorageConformanceMixin} into L{twisted.trial.unittest.TestCase} and
implements C{open_db()}, which returns a new ZODB database over an empty store of its backend.
Backends that several processes share also mix in L{SharedStorageMixin} and implement
C{open_peer_db()}, another client of the same store, standing for a second process.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import defer

from harper.database.conditions import Condition, Query, SortKey
from harper.database.groupcommit import GroupCommitter
from harper.database.query import QueryExecutor, QueryStats
from harper.errors import NotFound
from harper.schema.model import TableDefinition
from tests.helpers import attribute, create_tables, dog_definition, runner_over


def owner_definition() -> TableDefinition:
    """
    An Owner table: integer key and an indexed name.
    """
    return TableDefinition(
        type_name="Owner",
        name="Owner",
        attributes=(attribute("id", "Int", primary_key=True), attribute("name", indexed=True)),
    )


def increment_age(table: Any, barrier: threading.Barrier, attempts: list) -> Any:
    """
    Work that adds one to the age of dog 1; on its first attempt it waits at C{barrier}
    after reading, so that two runs read the same state and conflict.
    """

    def work(txn: Any) -> None:
        attempts.append(txn.attempt)
        current = table.get(txn, 1)
        if txn.attempt == 1:
            barrier.wait()
        table.put(txn, dict(current, age=current["age"] + 1))

    return work


def run_in_threads(*calls: Any) -> None:
    """
    Run each C{call()} in its own thread and wait for all of them.
    """
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


class StorageConformanceMixin:
    """
    Tables, indexes, queries, transactions, group commit and change events over one backend.
    """

    def open_db(self) -> Any:
        raise NotImplementedError()

    def setUp(self) -> None:
        self.runner = runner_over(self, self.open_db())
        self.dogs, self.owners = create_tables(self.runner, dog_definition(), owner_definition())
        self.events: list = []
        self.runner.feed.listen(self.events.append)

    def put(self, **record: Any) -> Any:
        return self.runner.run_blocking(lambda txn: self.dogs.put(txn, record))

    def test_put_get(self) -> None:
        """
        A stored record reads back, in a later transaction and in the read lane, and counts.
        """
        self.put(id=1, name="Rex", breed="lab")
        expected = {"id": 1, "name": "Rex", "breed": "lab"}
        self.assertEqual(self.runner.run_blocking(lambda txn: self.dogs.get(txn, 1)), expected)
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 1)), expected)
        self.assertEqual(self.runner.run_blocking(self.dogs.count), 1)
        self.runner.run_blocking(lambda txn: self.dogs.delete(txn, 1))
        self.assertIsNone(self.runner.read(lambda txn: self.dogs.get(txn, 1)))

    def test_index_follows_updates(self) -> None:
        """
        Replacing a record moves it from its old value's index entry to the new one.
        """
        self.put(id=1, name="Rex", tags=["a", "b"])
        self.put(id=1, name="Max", tags=["b", "c"])

        def index(txn: Any) -> dict:
            store = self.dogs.store(txn)
            indexes = store.indexes
            return {name: {k: list(v) for k, v in indexes[name].items()} for name in ("name", "tags")}

        self.assertEqual(
            self.runner.run_blocking(index),
            {"name": {(3, "Max"): [1]}, "tags": {(3, "b"): [1], (3, "c"): [1]}},
        )

    def test_query_uses_index(self) -> None:
        """
        A query on an indexed attribute visits only the matches, sorted as asked.
        """

        def load(txn: Any) -> None:
            for number in range(40):
                self.dogs.put(txn, {"id": number, "breed": f"b{number % 4}", "age": number})

        self.runner.run_blocking(load)
        stats = QueryStats()
        query = Query(
            Condition("breed", "equals", "b1"), sort=(SortKey("age", descending=True),), limit=3
        )
        records = self.runner.read(
            lambda txn: list(QueryExecutor(txn, self.dogs, {}.__getitem__, stats).run(query))
        )
        self.assertEqual([r["id"] for r in records], [37, 33, 29])
        self.assertEqual(stats.visited, 10)

    def test_two_tables_all_or_nothing(self) -> None:
        """
        When the second write of a transaction fails, the first (in another table) is not
        stored either, and no change event is emitted.
        """

        def work(txn: Any) -> None:
            self.dogs.put(txn, {"id": 1, "name": "Rex"})
            self.owners.patch(txn, 99, {"name": "nobody"})

        self.assertRaises(NotFound, self.runner.run_blocking, work)
        self.assertIsNone(self.runner.run_blocking(lambda txn: self.dogs.get(txn, 1)))
        self.assertEqual(self.events, [])

    def test_two_tables_commit_together(self) -> None:
        """
        Writes to two tables in one transaction are both stored, with one event each,
        delivered after the commit.
        """
        seen_during = []

        def work(txn: Any) -> None:
            self.dogs.put(txn, {"id": 1, "name": "Rex"})
            self.owners.put(txn, {"id": 7, "name": "Ann"})
            seen_during.append(list(self.events))

        self.runner.run_blocking(work)
        self.assertEqual(seen_during, [[]])
        self.assertEqual(
            [(e.table, e.id, e.type) for e in self.events], [("Dog", 1, "put"), ("Owner", 7, "put")]
        )
        self.assertEqual(
            self.runner.read(lambda txn: self.owners.get(txn, 7)), {"id": 7, "name": "Ann"}
        )

    def test_conflict_retried(self) -> None:
        """
        Two transactions that read and write the same record conflict; the loser runs again
        and both increments survive.
        """
        self.put(id=1, age=0)
        barrier = threading.Barrier(2, timeout=10)
        attempts: list = []
        work = increment_age(self.dogs, barrier, attempts)
        run_in_threads(lambda: self.runner.run_blocking(work), lambda: self.runner.run_blocking(work))
        self.assertEqual(self.runner.run_blocking(lambda txn: self.dogs.get(txn, 1))["age"], 2)
        self.assertEqual(sorted(attempts), [1, 1, 2])

    @defer.inlineCallbacks
    def test_group_commit(self) -> None:
        """
        Writes queued together on the writer thread commit together; each gets its own result
        and event, and a failing one fails alone.
        """
        writer = GroupCommitter(self.runner)
        writer.start()
        self.addCleanup(writer.stop)
        gate = threading.Event()
        blocked = writer.submit(lambda txn: gate.wait(10))
        writes = [
            writer.submit(lambda txn, n=n: self.dogs.put(txn, {"id": n, "name": f"d{n}"}))
            for n in range(5)
        ]
        failing = writer.submit(lambda txn: self.dogs.patch(txn, 99, {"name": "missing"}))
        gate.set()
        yield blocked
        results = yield defer.gatherResults(writes)
        yield self.assertFailure(failing, NotFound)
        self.assertEqual([r["name"] for r in results], [f"d{n}" for n in range(5)])
        self.assertEqual([e.id for e in self.events], list(range(5)))
        self.assertEqual(self.runner.read(self.dogs.count), 5)

    @defer.inlineCallbacks
    def test_events_after_commit_on_pool(self) -> None:
        """
        Work run on the pool fires its Deferred after its events reached the listeners.
        """
        record = yield self.runner.run(lambda txn: self.dogs.put(txn, {"id": 3, "name": "Pool"}))
        self.assertEqual(record["name"], "Pool")
        self.assertEqual(
            [(e.id, e.type, e.value["name"]) for e in self.events], [(3, "put", "Pool")]
        )


class SharedStorageMixin:
    """
    What a second process sharing the store sees: runners over two clients of one store.
    """

    def open_peer_db(self) -> Any:
        raise NotImplementedError()

    def test_peer_sees_commits(self) -> None:
        """
        A commit made through one client is read by the other in its next transaction, in
        both directions, including new tables.
        """
        peer = runner_over(self, self.open_peer_db())
        self.put(id=1, name="Rex")
        self.assertEqual(peer.read(lambda txn: self.dogs.get(txn, 1))["name"], "Rex")
        peer.run_blocking(lambda txn: self.dogs.patch(txn, 1, {"name": "Max"}))
        self.assertEqual(self.runner.read(lambda txn: self.dogs.get(txn, 1))["name"], "Max")
        cat = TableDefinition(type_name="Cat", name="Cat", attributes=(attribute("id", primary_key=True),))
        [cats] = create_tables(peer, cat)
        peer.run_blocking(lambda txn: cats.put(txn, {"id": "tom"}))
        self.assertEqual(self.runner.read(lambda txn: cats.get(txn, "tom")), {"id": "tom"})

    def test_peers_conflict_and_retry(self) -> None:
        """
        Two clients incrementing the same record conflict at the server; the loser runs again
        and both increments survive.
        """
        peer = runner_over(self, self.open_peer_db())
        self.put(id=1, age=0)
        barrier = threading.Barrier(2, timeout=10)
        attempts: list = []
        work = increment_age(self.dogs, barrier, attempts)
        run_in_threads(lambda: self.runner.run_blocking(work), lambda: peer.run_blocking(work))
        self.assertEqual(peer.read(lambda txn: self.dogs.get(txn, 1))["age"], 2)
        self.assertEqual(sorted(attempts), [1, 1, 2])
