"""
Tests for L{harper.operations.schema_ops}: describing databases and tables.
"""

from __future__ import annotations

from tests.operations.helpers import OperationsCase


class DescribeTests(OperationsCase):
    """
    Descriptions come from the table resources, with record counts.
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.ok({"operation": "insert", "table": "Dog", "records": [{"name": "Rex"}, {"name": "Spot"}]})

    async def test_describe_table(self) -> None:
        """
        C{describe_table} gives the key, the attributes and the record count.
        """
        described = await self.ok({"operation": "describe_table", "database": "data", "table": "Dog"})
        self.assertEqual(
            {key: described[key] for key in ("schema", "name", "hash_attribute", "record_count")},
            {"schema": "data", "name": "Dog", "hash_attribute": "id", "record_count": 2},
        )
        self.assertIn({"attribute": "name", "type": "String", "indexed": True, "is_primary_key": False},
                      described["attributes"])
        self.assertIn({"attribute": "id", "type": "Int", "indexed": True, "is_primary_key": True},
                      described["attributes"])

    async def test_describe_database_and_all(self) -> None:
        """
        C{describe_database} (alias C{describe_schema}) maps table names to descriptions;
        C{describe_all} maps database names to those; system tables are not shown.
        """
        database = await self.ok({"operation": "describe_schema", "schema": "data"})
        self.assertEqual(sorted(database), ["Breed", "Dog"])
        self.assertEqual(database["Breed"]["record_count"], 0)
        everything = await self.ok({"operation": "describe_all"})
        self.assertEqual(list(everything), ["data"])
        self.assertEqual(everything["data"]["Dog"]["record_count"], 2)

    async def test_unknown(self) -> None:
        """
        Unknown databases and tables are 404s naming them; a missing table field is a 400.
        """
        self.assertEqual(await self.refused({"operation": "describe_database", "database": "nope"}, 404),
                         "database 'nope' does not exist")
        self.assertEqual(await self.refused({"operation": "describe_table", "table": "Cat"}, 404),
                         "table data.Cat does not exist")
        self.assertEqual(await self.refused({"operation": "describe_table"}, 400), "table: required")

    async def test_only_permitted_tables(self) -> None:
        """
        A user sees only the tables their role grants something on.
        """
        reader = await self.add_reader()
        self.assertEqual(list((await self.ok({"operation": "describe_all"}, reader))["data"]), ["Dog"])
        self.assertEqual(list(await self.ok({"operation": "describe_database", "database": "data"}, reader)), ["Dog"])
        message = await self.refused({"operation": "describe_table", "table": "Breed"}, 403, reader)
        self.assertEqual(message, "user 'reader' may not read records of data.Breed")
