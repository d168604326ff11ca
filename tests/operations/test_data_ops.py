"""
Tests for L{harper.operations.data_ops}: insert, update, upsert and delete.
"""

from __future__ import annotations

from tests.operations.helpers import OperationsCase


def _write(operation: str, records: list, table: str = "Dog") -> dict:
    return {"operation": operation, "database": "data", "table": table, "records": records}


def _all_ids() -> dict:
    return {"operation": "search_by_value", "table": "Dog", "attribute": "id", "value": "*", "get_attributes": ["id"]}


class WriteTests(OperationsCase):
    """
    Writes go through the table's Resource API in one transaction.
    """

    async def test_insert(self) -> None:
        """
        Insert stores new records, generates missing keys and skips existing ones.
        """
        answer = await self.ok(_write("insert", [{"id": 1, "name": "Rex"}, {"name": "Fido"}]))
        self.assertEqual(answer, {"message": "inserted 2 of 2 records", "inserted_hashes": [1, 2], "skipped_hashes": []})
        answer = await self.ok(_write("insert", [{"id": 1, "name": "Other"}, {"id": 3, "name": "Spot"}]))
        self.assertEqual(answer, {"message": "inserted 1 of 2 records", "inserted_hashes": [3], "skipped_hashes": [1]})
        self.assertEqual((await self.runtime.tables.Dog.get(1))["name"], "Rex")

    async def test_schema_alias(self) -> None:
        """
        C{schema} is accepted for C{database}, and C{database} defaults to C{data}.
        """
        body = {"operation": "insert", "schema": "data", "table": "Breed", "records": [{"id": 1, "name": "Lab"}]}
        self.assertEqual((await self.ok(body))["inserted_hashes"], [1])
        body = {"operation": "insert", "table": "Breed", "records": [{"id": 2, "name": "Pug"}]}
        self.assertEqual((await self.ok(body))["inserted_hashes"], [2])

    async def test_invalid_record_aborts(self) -> None:
        """
        A record that fails validation is a 400 naming the attribute; nothing is stored.
        """
        message = await self.refused(_write("insert", [{"id": 1, "name": "Rex"}, {"id": 2, "age": "old"}]), 400)
        self.assertIn("Dog.age: expected Int", message)
        self.assertIn("Dog.name: required", message)
        self.assertEqual(await self.ok(_all_ids()), [])

    async def test_bad_fields(self) -> None:
        """
        Missing or mistyped fields, and keys of the wrong type, are 400s naming them.
        """
        self.assertEqual(await self.refused({"operation": "insert", "table": "Dog"}, 400), "records: required")
        self.assertEqual(await self.refused(_write("insert", {"id": 1}), 400), "records: expected a list, got an object")
        self.assertEqual(await self.refused(_write("insert", [5]), 400), "records[0]: expected an object, got a number")
        message = await self.refused(_write("insert", [{"id": "one", "name": "Rex"}]), 400)
        self.assertEqual(message, "records[0].id: Dog: 'one' is not a valid Int primary key")
        self.assertEqual(await self.refused(_write("update", [{"name": "Rex"}]), 400), "records[0].id: required")
        self.assertEqual(await self.refused({"operation": "insert", "records": []}, 400), "table: required")

    async def test_unknown_table(self) -> None:
        """
        A table that does not exist is a 404 naming it.
        """
        self.assertEqual(await self.refused(_write("insert", [], table="Cat"), 404), "table data.Cat does not exist")

    async def test_update(self) -> None:
        """
        Update merges into existing records and skips missing ones.
        """
        await self.ok(_write("insert", [{"id": 1, "name": "Rex", "age": 3}]))
        answer = await self.ok(_write("update", [{"id": 1, "age": 4}, {"id": "9", "age": 1}]))
        self.assertEqual(answer, {"message": "updated 1 of 2 records", "update_hashes": [1], "skipped_hashes": [9]})
        record = await self.runtime.tables.Dog.get(1)
        self.assertEqual((record["name"], record["age"]), ("Rex", 4))

    async def test_upsert(self) -> None:
        """
        Upsert merges into existing records and creates the others.
        """
        await self.ok(_write("insert", [{"id": 1, "name": "Rex", "age": 3}]))
        answer = await self.ok(_write("upsert", [{"id": 1, "age": 5}, {"id": 2, "name": "Spot"}]))
        self.assertEqual(answer, {"message": "upserted 2 of 2 records", "upserted_hashes": [1, 2]})
        self.assertEqual((await self.runtime.tables.Dog.get(1))["age"], 5)
        self.assertEqual((await self.runtime.tables.Dog.get(2))["name"], "Spot")

    async def test_delete(self) -> None:
        """
        Delete removes the records with the given ids (C{hash_values} is an alias) and skips
        unknown ids.
        """
        await self.ok(_write("insert", [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Spot"}]))
        answer = await self.ok({"operation": "delete", "table": "Dog", "hash_values": [1, 5]})
        self.assertEqual(answer, {"message": "1 of 2 records successfully deleted", "deleted_hashes": [1],
                                  "skipped_hashes": [5]})
        self.assertEqual(await self.ok(_all_ids()), [{"id": 2}])
