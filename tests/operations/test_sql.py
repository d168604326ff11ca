"""
Tests for L{harper.operations.sql_ops} and L{harper.operations.sql.execute}: SQL statements
over the operations API on a loopback port.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor

from harper.operations.scope import OperationScope
from harper.operations.sql_ops import statement
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from tests.operations.helpers import OperationsCase

DOGS = [
    {"id": 1, "name": "Rex", "breedId": 1, "age": 3, "owner": "Ann"},
    {"id": 2, "name": "Rover", "breedId": 2, "age": 7, "owner": "Bob"},
    {"id": 3, "name": "Spot", "breedId": 1, "age": 5, "owner": "Ann"},
    {"id": 4, "name": "Fido", "breedId": 9, "age": 1, "owner": "Cy"},
]


class SqlCase(OperationsCase):
    """
    The Breed/Dog tables with two breeds and four dogs (Fido's breed does not exist).
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.ok({"operation": "insert", "table": "Breed", "records": [{"id": 1, "name": "Lab"}, {"id": 2, "name": "Pug"}]})
        await self.ok({"operation": "insert", "table": "Dog", "records": DOGS})

    async def sql(self, text: str, **kwargs: Any) -> Any:
        return await self.ok({"operation": "sql", "sql": text}, **kwargs)


class SelectTests(SqlCase):
    """
    C{SELECT} answers with a list of rows.
    """

    async def test_where_order_paging(self) -> None:
        """
        WHERE filters, ORDER BY sorts (descending too), LIMIT and OFFSET page, and the
        selected columns (and aliases) name the row's attributes.
        """
        rows = await self.sql("SELECT id, name AS dog FROM data.Dog WHERE age >= 3 ORDER BY age DESC LIMIT 2 OFFSET 1")
        self.assertEqual(rows, [{"id": 3, "dog": "Spot"}, {"id": 1, "dog": "Rex"}])
        rows = await self.sql("SELECT id FROM Dog WHERE name LIKE 'R%' AND NOT owner = 'Bob' OR age BETWEEN 6 AND 8 ORDER BY id")
        self.assertEqual(rows, [{"id": 1}, {"id": 2}])

    async def test_star(self) -> None:
        """
        C{*} selects whole records.
        """
        self.assertEqual(await self.sql("SELECT * FROM Dog WHERE id IN (2, 4) ORDER BY id"), [DOGS[1], DOGS[3]])

    async def test_group_by_aggregates(self) -> None:
        """
        GROUP BY folds rows into groups with COUNT, SUM, AVG, MIN and MAX, sortable by an
        aggregate's alias.
        """
        rows = await self.sql(
            "SELECT owner, COUNT(*) AS n, SUM(age) AS total, AVG(age), MIN(name), MAX(age) "
            "FROM Dog GROUP BY owner ORDER BY n DESC, owner"
        )
        self.assertEqual(rows, [
            {"owner": "Ann", "n": 2, "total": 8, "AVG(age)": 4.0, "MIN(name)": "Rex", "MAX(age)": 5},
            {"owner": "Bob", "n": 1, "total": 7, "AVG(age)": 7.0, "MIN(name)": "Rover", "MAX(age)": 7},
            {"owner": "Cy", "n": 1, "total": 1, "AVG(age)": 1.0, "MIN(name)": "Fido", "MAX(age)": 1},
        ])

    async def test_aggregate_without_groups(self) -> None:
        """
        Aggregates without GROUP BY give one row, also when nothing matches.
        """
        self.assertEqual(await self.sql("SELECT COUNT(*) AS n, MAX(age) AS oldest FROM Dog"), [{"n": 4, "oldest": 7}])
        self.assertEqual(await self.sql("SELECT COUNT(*) AS n, SUM(age) AS s FROM Dog WHERE age > 99"), [{"n": 0, "s": None}])

    async def test_inner_join(self) -> None:
        """
        An INNER JOIN pairs each dog with its breed and leaves out dogs without one; WHERE
        may test both tables.
        """
        rows = await self.sql(
            "SELECT d.name, b.name AS breed FROM Dog d INNER JOIN Breed b ON d.breedId = b.id "
            "WHERE b.name = 'Lab' OR d.age > 6 ORDER BY d.id"
        )
        self.assertEqual(rows, [{"name": "Rex", "breed": "Lab"}, {"name": "Rover", "breed": "Pug"}, {"name": "Spot", "breed": "Lab"}])

    async def test_left_join_grouped(self) -> None:
        """
        A LEFT JOIN keeps dogs without a breed (their breed columns are null) and groups
        over the joined rows.
        """
        rows = await self.sql("SELECT d.name, b.name AS breed FROM Dog d LEFT JOIN Breed b ON b.id = d.breedId WHERE d.id > 2 ORDER BY d.id")
        self.assertEqual(rows, [{"name": "Spot", "breed": "Lab"}, {"name": "Fido", "breed": None}])
        counts = await self.sql("SELECT b.name AS breed, COUNT(*) AS dogs FROM Dog d LEFT JOIN Breed b ON d.breedId = b.id GROUP BY b.name ORDER BY breed")
        self.assertEqual(counts, [{"breed": None, "dogs": 1}, {"breed": "Lab", "dogs": 2}, {"breed": "Pug", "dogs": 1}])


class IndexTests(SqlCase):
    """
    Statements run on the tables' query executor, which answers indexed conditions from the
    indexes.
    """

    async def visited(self, text: str) -> tuple[list, int]:
        admin = await self.access.users.get_user("admin")
        bound = statement(OperationScope.of_runtime(self.runtime, reactor), text, admin)
        rows = await self.runtime.caller.call("run", bound, RequestTarget(), RequestContext())
        return rows, bound.stats.visited

    async def test_indexed_where(self) -> None:
        """
        An equality on an indexed attribute visits the matching record only; one on an
        attribute without an index visits the whole table.
        """
        self.assertEqual(await self.visited("SELECT id FROM Dog WHERE name = 'Spot'"), ([{"id": 3}], 1))
        self.assertEqual(await self.visited("SELECT id FROM Dog WHERE owner = 'Cy'"), ([{"id": 4}], 4))

    async def test_join_lookups_use_indexes(self) -> None:
        """
        A join reads the first table through its WHERE's indexed condition and looks up the
        second table by primary key: one dog and one breed are visited.
        """
        rows, visited = await self.visited("SELECT b.name FROM Dog d JOIN Breed b ON d.breedId = b.id WHERE d.name = 'Rover'")
        self.assertEqual((rows, visited), ([{"name": "Pug"}], 2))

    async def test_indexed_delete(self) -> None:
        """
        DELETE finds its records through the index too.
        """
        summary, visited = await self.visited("DELETE FROM Dog WHERE breedId = 2")
        self.assertEqual((summary["deleted_hashes"], visited), ([2], 1))


class WriteTests(SqlCase):
    """
    INSERT, UPDATE and DELETE write through the table's Resource API.
    """

    async def test_insert(self) -> None:
        """
        INSERT creates records, skipping keys that exist, and generates missing keys.
        """
        summary = await self.sql("INSERT INTO data.Breed (id, name) VALUES (3, 'Pom'), (1, 'Again')")
        self.assertEqual(summary, {"message": "inserted 1 of 2 records", "inserted_hashes": [3], "skipped_hashes": [1]})
        generated = await self.sql("INSERT INTO Dog (name, age) VALUES ('Nova', 2)")
        self.assertEqual(len(generated["inserted_hashes"]), 1)
        self.assertEqual(await self.sql("SELECT name FROM Breed ORDER BY id"), [{"name": "Lab"}, {"name": "Pug"}, {"name": "Pom"}])

    async def test_insert_invalid(self) -> None:
        """
        A record that fails validation refuses the whole statement; nothing is written.
        """
        error = await self.refused({"operation": "sql", "sql": "INSERT INTO Breed (id, name) VALUES (5, 'Ok'), (6, 7)"}, 400)
        self.assertIn("name", error)
        self.assertEqual(await self.sql("SELECT COUNT(*) AS n FROM Breed"), [{"n": 2}])

    async def test_update(self) -> None:
        """
        UPDATE merges the SET values into the matching records.
        """
        summary = await self.sql("UPDATE Dog SET age = 9, owner = 'Zed' WHERE owner = 'Ann'")
        self.assertEqual(summary, {"message": "updated 2 of 2 records", "update_hashes": [1, 3], "skipped_hashes": []})
        rows = await self.sql("SELECT id, age, owner, name FROM Dog WHERE age = 9 ORDER BY id")
        self.assertEqual(rows, [{"id": 1, "age": 9, "owner": "Zed", "name": "Rex"}, {"id": 3, "age": 9, "owner": "Zed", "name": "Spot"}])

    async def test_update_primary_key(self) -> None:
        """
        UPDATE may not change a primary key.
        """
        error = await self.refused({"operation": "sql", "sql": "UPDATE Dog SET id = 5 WHERE id = 1"}, 400)
        self.assertIn("primary key", error)

    async def test_delete(self) -> None:
        """
        DELETE removes the matching records.
        """
        summary = await self.sql("DELETE FROM Dog WHERE age < 4")
        self.assertEqual(summary, {"message": "2 of 2 records successfully deleted", "deleted_hashes": [1, 4], "skipped_hashes": []})
        self.assertEqual(await self.sql("SELECT id FROM Dog ORDER BY id"), [{"id": 2}, {"id": 3}])


class RefusalTests(SqlCase):
    """
    Bad statements and missing permissions are refused with a clear error.
    """

    async def test_unsupported(self) -> None:
        """
        Unsupported SQL is a 400 naming what is unsupported.
        """
        error = await self.refused({"operation": "sql", "sql": "SELECT DISTINCT owner FROM Dog"}, 400)
        self.assertEqual(error, "sql: unsupported SQL: DISTINCT in SELECT")

    async def test_syntax_error(self) -> None:
        """
        Text that does not parse is a 400 saying where.
        """
        error = await self.refused({"operation": "sql", "sql": "SELECT FROM WHERE"}, 400)
        self.assertIn("character", error)

    async def test_missing_field_and_table(self) -> None:
        """
        A request without C{sql} is a 400; an unknown table a 404.
        """
        self.assertEqual(await self.refused({"operation": "sql"}, 400), "sql: required")
        self.assertIn("data.Cat", await self.refused({"operation": "sql", "sql": "SELECT * FROM Cat"}, 404))

    async def test_permissions(self) -> None:
        """
        A role that may only read Dog may SELECT from it, but not write it nor read Breed,
        alone or in a join.
        """
        reader = await self.add_reader()
        self.assertEqual(await self.sql("SELECT id FROM Dog WHERE id = 1", authorization=reader), [{"id": 1}])
        for text in (
            "INSERT INTO Dog (id, name) VALUES (8, 'X')",
            "UPDATE Dog SET age = 1",
            "DELETE FROM Dog",
            "SELECT * FROM Breed",
            "SELECT d.id FROM Dog d JOIN Breed b ON d.breedId = b.id",
        ):
            await self.refused({"operation": "sql", "sql": text}, 403, authorization=reader)
        self.assertEqual(await self.sql("SELECT COUNT(*) AS n FROM Dog"), [{"n": 4}])
