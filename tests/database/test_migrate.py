"""
Tests for L{harper.database.migrate}: schema changes on restart.
"""

from twisted.trial.unittest import TestCase

from harper.database.conditions import Condition, Query
from harper.database.migrate import migrate
from harper.database.query import QueryExecutor, QueryStats
from harper.database.table import Table
from harper.schema.model import Computed, TableDefinition
from tests.helpers import attribute, file_runner


def definition(*extra, **options) -> TableDefinition:
    return TableDefinition(
        type_name="Dog", name="Dog",
        attributes=(attribute("id", "Int", primary_key=True), attribute("name"), attribute("age", "Int")) + extra,
        **options,
    )


class MigrateTests(TestCase):
    """
    Creating tables and indexes as the schema changes.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)

    def test_new_index_over_existing_records(self) -> None:
        """
        A schema that marks an attribute @indexed on a table with records gets an index
        covering those records, and queries use it.
        """
        plain = Table(definition())
        self.assertEqual(self.runner.run_blocking(lambda txn: migrate(txn, [plain])), ["created table data.Dog"])
        self.runner.run_blocking(lambda txn: [plain.put(txn, {"id": i, "name": f"d{i}", "age": i % 3}) for i in range(30)])
        indexed = Table(TableDefinition(
            type_name="Dog", name="Dog",
            attributes=(attribute("id", "Int", primary_key=True), attribute("name"), attribute("age", "Int", indexed=True)),
        ))
        self.assertEqual(self.runner.run_blocking(lambda txn: migrate(txn, [indexed])), ["built index Dog.age"])
        stats = QueryStats()
        found = self.runner.run_blocking(
            lambda txn: list(QueryExecutor(txn, indexed, {}.get, stats).run(Query(Condition("age", "equals", 1))))
        )
        self.assertEqual(len(found), 10)
        self.assertEqual(stats.visited, 10)
        self.assertEqual(self.runner.run_blocking(lambda txn: migrate(txn, [indexed])), [])

    def test_dropped_index(self) -> None:
        """
        An index no longer declared is dropped.
        """
        indexed = Table(definition(attribute("tag", indexed=True)))
        self.runner.run_blocking(lambda txn: migrate(txn, [indexed]))
        self.assertEqual(self.runner.run_blocking(lambda txn: migrate(txn, [Table(definition())])), ["dropped index Dog.tag"])

    def test_computed_index_rebuilt_on_version(self) -> None:
        """
        Bumping a computed attribute's version rebuilds its index.
        """
        def table(version, expression):
            computed = attribute("double", "Int", indexed=True, computed=Computed(expression, version))
            return Table(definition(computed), {"double": lambda r: eval(expression, {}, dict(r))})

        first = table(1, "age * 2")
        self.runner.run_blocking(lambda txn: migrate(txn, [first]))
        self.runner.run_blocking(lambda txn: first.put(txn, {"id": 1, "age": 4}))
        second = table(2, "age * 3")
        self.assertEqual(self.runner.run_blocking(lambda txn: migrate(txn, [second])), ["built index Dog.double"])
        keys = self.runner.run_blocking(lambda txn: list(second.store(txn).indexes["double"].keys()))
        self.assertEqual(keys, [(2, 12)])
