"""
Tests for L{harper.operations.sql.plan}, L{harper.operations.sql.model} and
L{harper.operations.sql.where}: SQL text into
plans over the shared query model, and the refusal of everything else.
"""

from __future__ import annotations

from typing import Collection

from twisted.trial.unittest import SynchronousTestCase

from harper.database.conditions import Condition, Group, Not
from harper.errors import InvalidInput, NotFound, QuerySyntaxError
from harper.operations.sql.model import (
    Aggregate,
    Column,
    DeletePlan,
    InsertPlan,
    Join,
    Order,
    Output,
    SelectPlan,
    Source,
    UpdatePlan,
)
from harper.operations.sql.plan import plan

TABLES = {"Dog": ("id", "name", "breedId", "age"), "Breed": ("id", "name", "size")}
DOG = Source("data", "Dog", "Dog")


def catalog(database: str, table: str) -> Collection[str]:
    """
    The attributes of the test tables.
    """
    if table not in TABLES:
        raise NotFound(f"table {database}.{table} does not exist")
    return TABLES[table]


def planned(text: str) -> object:
    return plan(text, catalog)


def dog(name: str) -> Column:
    return Column("Dog", name)


class SelectPlanTests(SynchronousTestCase):
    """
    SELECT statements become L{SelectPlan}s.
    """

    def test_simple(self) -> None:
        """
        Columns, aliases and C{*} become outputs; the database defaults to C{data}.
        """
        result = planned("SELECT id, name AS dog, * FROM Dog")
        self.assertEqual(result, SelectPlan(DOG, None, (Output("id", dog("id")), Output("dog", dog("name")), Output("*"))))
        self.assertEqual(planned("SELECT * FROM dev.Dog").source, Source("dev", "Dog", "Dog"))

    def test_where(self) -> None:
        """
        Comparisons (either way round), BETWEEN, IN, LIKE, IS NULL, NOT, AND and OR become
        a condition tree over qualified paths; nested ANDs are flattened.
        """
        result = planned(
            "SELECT * FROM Dog WHERE (3 < age AND age <> 9 AND name IS NULL) OR NOT age BETWEEN 1 AND 2 "
            "OR id IN (1, -2) OR name LIKE '%ex' OR name LIKE 'R%' OR name LIKE '%e%' OR name LIKE 'Rex'"
        )
        expected = Group("or", (
            Group("and", (
                Condition(("Dog", "age"), "greater_than", 3),
                Condition(("Dog", "age"), "not_equal", 9),
                Condition(("Dog", "name"), "equals", None),
            )),
            Not(Condition(("Dog", "age"), "between", (1, 2))),
            Condition(("Dog", "id"), "in", (1, -2)),
            Condition(("Dog", "name"), "ends_with", "ex"),
            Condition(("Dog", "name"), "starts_with", "R"),
            Condition(("Dog", "name"), "contains", "e"),
            Condition(("Dog", "name"), "equals", "Rex"),
        ))
        self.assertEqual(result.where, expected)

    def test_literals(self) -> None:
        """
        Numbers, text, booleans and NULL become Python values.
        """
        result = planned("SELECT * FROM Dog WHERE age = 1.5 OR name = 'x' OR age = TRUE OR age = NULL")
        self.assertEqual([node.value for node in result.where.conditions], [1.5, "x", True, None])

    def test_order_and_paging(self) -> None:
        """
        ORDER BY names columns or output aliases; LIMIT and OFFSET page.
        """
        result = planned("SELECT name AS n FROM Dog ORDER BY n DESC, age LIMIT 5 OFFSET 10")
        self.assertEqual(result.order, (Order("n", True), Order(dog("age"))))
        self.assertEqual((result.offset, result.limit), (10, 5))

    def test_group_by(self) -> None:
        """
        GROUP BY with the five aggregates; an aggregate alone groups every row.
        """
        result = planned("SELECT name, COUNT(*), COUNT(age), SUM(age), AVG(age) AS a, MIN(age), MAX(age) FROM Dog GROUP BY name")
        self.assertEqual(result.group_by, (dog("name"),))
        self.assertEqual(
            [output.value for output in result.outputs[1:]],
            [Aggregate("count", None)] + [Aggregate(name, dog("age")) for name in ("count", "sum", "avg", "min", "max")],
        )
        self.assertEqual([output.name for output in result.outputs[:3]], ["name", "COUNT(*)", "COUNT(age)"])
        self.assertTrue(planned("SELECT COUNT(*) FROM Dog").grouped)
        self.assertFalse(planned("SELECT name FROM Dog").grouped)

    def test_join(self) -> None:
        """
        An INNER or LEFT JOIN on an equality of a column of each table; unqualified columns
        belong to the one table that has them, and the ON sides may come in either order.
        """
        result = planned("SELECT age, size, b.name FROM data.Dog AS d LEFT JOIN Breed b ON b.id = d.breedId WHERE size = 'L'")
        breed = Source("data", "Breed", "b")
        self.assertEqual(result.join, Join(breed, True, Column("d", "breedId"), Column("b", "id")))
        self.assertEqual([output.value for output in result.outputs], [Column("d", "age"), Column("b", "size"), Column("b", "name")])
        self.assertEqual(result.where, Condition(("b", "size"), "equals", "L"))
        self.assertFalse(planned("SELECT * FROM Dog JOIN Breed ON Dog.breedId = Breed.id").join.outer)
        self.assertEqual(planned("SELECT Breed.* FROM Dog INNER JOIN Breed ON Dog.breedId = Breed.id").outputs, (Output("Breed.*", None, "Breed"),))


class WritePlanTests(SynchronousTestCase):
    """
    INSERT, UPDATE and DELETE statements become write plans.
    """

    def test_insert(self) -> None:
        """
        INSERT ... VALUES becomes one record per row.
        """
        result = planned("INSERT INTO data.Dog (id, name) VALUES (1, 'a'), (2, NULL)")
        self.assertEqual(result, InsertPlan(DOG, ({"id": 1, "name": "a"}, {"id": 2, "name": None})))

    def test_update(self) -> None:
        """
        UPDATE ... SET becomes the changes and the condition tree.
        """
        result = planned("UPDATE Dog SET age = 4, name = 'x' WHERE id = 1")
        self.assertEqual(result, UpdatePlan(DOG, {"age": 4, "name": "x"}, Condition(("Dog", "id"), "equals", 1)))

    def test_delete(self) -> None:
        """
        DELETE becomes the condition tree (C{None}: every record).
        """
        self.assertEqual(planned("DELETE FROM Dog WHERE age > 3"), DeletePlan(DOG, Condition(("Dog", "age"), "greater_than", 3)))
        self.assertEqual(planned("DELETE FROM Dog"), DeletePlan(DOG, None))


class RefusalTests(SynchronousTestCase):
    """
    Everything else is refused with a message naming it.
    """

    def refused(self, text: str, error: type = InvalidInput) -> str:
        return self.assertRaises(error, planned, text).message

    def test_syntax(self) -> None:
        """
        Text that does not parse, or is not a statement, is a syntax error saying where.
        """
        self.assertIn("at character", self.refused("SELECT FROM WHERE", QuerySyntaxError))
        self.assertIn("expected a SELECT", self.refused("SELEC", QuerySyntaxError))

    def test_statements(self) -> None:
        """
        Other statements, several statements and set operations are unsupported.
        """
        self.assertIn("CREATE statements", self.refused("CREATE TABLE x (a INT)"))
        self.assertIn("2 statements", self.refused("SELECT * FROM Dog; SELECT * FROM Dog"))
        self.assertIn("UNION statements", self.refused("SELECT id FROM Dog UNION SELECT id FROM Breed"))

    def test_select_clauses(self) -> None:
        """
        DISTINCT, HAVING, WITH, subqueries and SELECT without FROM are unsupported.
        """
        self.assertIn("DISTINCT in SELECT", self.refused("SELECT DISTINCT name FROM Dog"))
        self.assertIn("HAVING in SELECT", self.refused("SELECT name FROM Dog GROUP BY name HAVING COUNT(*) > 1"))
        self.assertIn("WITH in SELECT", self.refused("WITH x AS (SELECT 1) SELECT * FROM Dog"))
        self.assertIn("as a table", self.refused("SELECT * FROM (SELECT * FROM Dog) d"))
        self.assertIn("without FROM", self.refused("SELECT 1"))

    def test_expressions(self) -> None:
        """
        Arithmetic, other functions, COUNT(DISTINCT) and aggregates of expressions are
        unsupported.
        """
        self.assertIn("the expression age + 1", self.refused("SELECT age + 1 FROM Dog"))
        self.assertIn("UPPER(name)", self.refused("SELECT UPPER(name) FROM Dog"))
        self.assertIn("COUNT(DISTINCT age)", self.refused("SELECT COUNT(DISTINCT age) FROM Dog"))

    def test_conditions(self) -> None:
        """
        Column-to-column comparisons, subquery IN, inner LIKE wildcards and other
        predicates are unsupported.
        """
        self.assertIn("compare one column with a literal", self.refused("SELECT * FROM Dog WHERE age = id"))
        self.assertIn("IN needs a list", self.refused("SELECT * FROM Dog WHERE id IN (SELECT id FROM Breed)"))
        self.assertIn("LIKE patterns", self.refused("SELECT * FROM Dog WHERE name LIKE 'a%b'"))
        self.assertIn("LIKE patterns", self.refused("SELECT * FROM Dog WHERE name LIKE 'a_'"))
        self.assertIn("where a literal value is expected", self.refused("SELECT * FROM Dog WHERE age = 1 + 2"))
        self.assertIn("the condition", self.refused("SELECT * FROM Dog WHERE age"))

    def test_joins(self) -> None:
        """
        RIGHT, FULL and CROSS joins, more than two tables, USING, non-equality ON and
        ambiguous or unknown columns are refused.
        """
        self.assertIn("RIGHT JOIN", self.refused("SELECT * FROM Dog RIGHT JOIN Breed ON Dog.breedId = Breed.id"))
        self.assertIn("FULL", self.refused("SELECT * FROM Dog FULL JOIN Breed ON Dog.breedId = Breed.id"))
        self.assertIn("CROSS JOIN", self.refused("SELECT * FROM Dog CROSS JOIN Breed"))
        self.assertIn("more than two tables", self.refused("SELECT * FROM Dog JOIN Breed ON Dog.id = Breed.id JOIN Breed c ON c.id = Dog.id"))
        self.assertIn("without ON", self.refused("SELECT * FROM Dog JOIN Breed USING (id)"))
        self.assertIn("join on one column equal", self.refused("SELECT * FROM Dog JOIN Breed ON Dog.id > Breed.id"))
        self.assertIn("compare a column of each table", self.refused("SELECT * FROM Dog JOIN Breed ON Dog.id = Dog.breedId"))
        self.assertIn("in both tables", self.refused("SELECT name FROM Dog JOIN Breed ON breedId = Breed.id"))
        self.assertIn("in neither table", self.refused("SELECT color FROM Dog JOIN Breed ON breedId = Breed.id"))
        self.assertIn("names no table", self.refused("SELECT x.id FROM Dog"))

    def test_grouping(self) -> None:
        """
        Ungrouped columns beside aggregates, C{*} with GROUP BY and grouping by an
        expression are refused.
        """
        self.assertIn("neither grouped nor aggregated", self.refused("SELECT name, COUNT(*) FROM Dog"))
        self.assertIn("* together with GROUP BY", self.refused("SELECT * FROM Dog GROUP BY name"))
        self.assertIn("GROUP BY age + 1", self.refused("SELECT COUNT(*) FROM Dog GROUP BY age + 1"))

    def test_paging(self) -> None:
        """
        LIMIT and OFFSET must be whole numbers of at least 0.
        """
        self.assertIn("LIMIT must be", self.refused("SELECT * FROM Dog LIMIT -1"))
        self.assertIn("OFFSET must be", self.refused("SELECT * FROM Dog LIMIT 1 OFFSET 1.5"))

    def test_writes(self) -> None:
        """
        INSERT without columns or from a query, rows of the wrong length, SET of an
        expression and UPDATE ... FROM are refused.
        """
        self.assertIn("without a column list", self.refused("INSERT INTO Dog VALUES (1, 'a')"))
        self.assertIn("from a query", self.refused("INSERT INTO Dog (id) SELECT id FROM Breed"))
        self.assertIn("has 1 values for 2 columns", self.refused("INSERT INTO Dog (id, name) VALUES (1)"))
        self.assertIn("where a literal value", self.refused("UPDATE Dog SET age = age + 1"))
        self.assertIn("FROM in UPDATE", self.refused("UPDATE Dog SET age = 1 FROM Breed"))

    def test_unknown_table(self) -> None:
        """
        A table the catalog does not know is not found.
        """
        self.assertRaises(NotFound, planned, "SELECT * FROM Cat")
