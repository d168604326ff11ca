"""
Tests for L{harper.database.table}: records, managed attributes and index maintenance.
"""

from twisted.trial.unittest import TestCase

from harper.database.table import Table
from harper.errors import NotFound
from harper.schema.model import TableDefinition
from tests.helpers import attribute, create_tables, dog_definition, file_runner


class TableTests(TestCase):
    """
    Reads and writes through L{Table} on a FileStorage.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        [self.dogs] = create_tables(self.runner, dog_definition())

    def put(self, **record):
        return self.runner.run_blocking(lambda txn: self.dogs.put(txn, record))

    def test_put_get(self) -> None:
        """
        A stored record reads back with its values, and the count follows.
        """
        self.put(id=1, name="Rex", breed="lab")
        record = self.runner.run_blocking(lambda txn: self.dogs.get(txn, 1))
        self.assertEqual(record, {"id": 1, "name": "Rex", "breed": "lab"})
        self.assertEqual(self.runner.run_blocking(self.dogs.count), 1)

    def test_index_follows_updates(self) -> None:
        """
        Replacing a record moves its key from the old value's index entry to the new one,
        per element for arrays, and deleting removes it.
        """
        self.put(id=1, name="Rex", tags=["a", "b"])
        self.put(id=1, name="Max", tags=["b", "c"])

        def index(txn):
            store = self.dogs.store(txn)
            return {
                name: {k: list(v) for k, v in store.indexes[name].items()}
                for name in ("name", "tags")
            }

        self.assertEqual(
            self.runner.run_blocking(index),
            {
                "name": {(3, "Max"): [1]},
                "tags": {(3, "b"): [1], (3, "c"): [1]},
            },
        )
        self.runner.run_blocking(lambda txn: self.dogs.delete(txn, 1))
        self.assertEqual(self.runner.run_blocking(index), {"name": {}, "tags": {}})

    def test_unchanged_values_leave_index_alone(self) -> None:
        """
        An update that keeps every indexed value stores only the record: no index object is
        written. A value that only compares equal (C{True} after C{1}) is a change and moves.
        """
        self.put(id=1, name="Rex", breed=1, tags=["a", "b"], age=3)

        def update(txn, **record):
            self.dogs.put(txn, record)
            return {type(obj).__name__ for obj in txn.connection._registered_objects}

        written = self.runner.run_blocking(lambda txn: update(txn, id=1, name="Rex", breed=1, tags=["a", "b"], age=4))
        self.assertEqual(written, {"Entry"})
        written = self.runner.run_blocking(lambda txn: update(txn, id=1, name="Rex", breed=True, tags=["a", "b"]))
        self.assertIn("OOBTree", written)
        breeds = self.runner.run_blocking(
            lambda txn: {k: list(v) for k, v in self.dogs.store(txn).indexes["breed"].items()}
        )
        self.assertEqual(breeds, {(1, True): [1]})

    def test_null_is_indexed(self) -> None:
        """
        A record without a value for an indexed attribute is indexed under null.
        """
        self.put(id=1, name="Rex")
        keys = self.runner.run_blocking(
            lambda txn: list(self.dogs.store(txn).indexes["breed"][(0,)])
        )
        self.assertEqual(keys, [1])

    def test_patch_missing(self) -> None:
        """
        Patching a record that does not exist is L{NotFound} and stores nothing.
        """
        self.assertRaises(
            NotFound, self.runner.run_blocking, lambda txn: self.dogs.patch(txn, 9, {"age": 1})
        )
        self.assertEqual(self.runner.run_blocking(self.dogs.count), 0)

    def test_generated_integer_keys_increase(self) -> None:
        """
        Generated integer keys increase and skip keys already used.
        """
        self.put(id=2, name="Two")
        keys = [self.runner.run_blocking(self.dogs.generate_key) for _ in range(2)]
        self.assertEqual(keys, [1, 3])

    def test_managed_times(self) -> None:
        """
        C{@createdTime} is set once, C{@updatedTime} on every write.
        """
        definition = TableDefinition(
            type_name="Log",
            name="Log",
            attributes=(
                attribute("id", primary_key=True),
                attribute("created", "Long", created_time=True),
                attribute("updated", "Long", updated_time=True),
            ),
        )
        [logs] = create_tables(self.runner, definition)
        first = self.runner.run_blocking(lambda txn: logs.put(txn, {"id": "a"}))
        second = self.runner.run_blocking(lambda txn: logs.put(txn, {"id": "a", "x": 1}))
        self.assertEqual(first["created"], second["created"])
        self.assertGreaterEqual(second["updated"], first["updated"])
        self.assertIsInstance(second["updated"], int)

    def test_expiration(self) -> None:
        """
        A record of a table with an expiration reads as absent once expired.
        """
        [cache] = create_tables(
            self.runner,
            TableDefinition(
                type_name="C", name="C", attributes=(attribute("id", primary_key=True),), expiration=60
            ),
        )
        self.runner.run_blocking(lambda txn: cache.put(txn, {"id": "k"}, expires_at=txn.timestamp - 1))
        self.assertIsNone(self.runner.run_blocking(lambda txn: cache.get(txn, "k")))
        self.runner.run_blocking(lambda txn: cache.put(txn, {"id": "k"}))
        self.assertEqual(self.runner.run_blocking(lambda txn: cache.get(txn, "k")), {"id": "k"})

    def test_unknown_table(self) -> None:
        """
        Using a table that was never created is L{NotFound}.
        """
        ghost = Table(dog_definition().__class__(type_name="G", name="G", attributes=()))
        self.assertRaises(NotFound, self.runner.run_blocking, lambda txn: ghost.get(txn, 1))
