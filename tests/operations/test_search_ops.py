"""
Tests for L{harper.operations.search_ops}: searches by id, by value and by conditions.
"""

from __future__ import annotations

from typing import Any

from tests.operations.helpers import OperationsCase

DOGS = [
    {"id": 1, "name": "Rex", "breedId": 1, "age": 3, "owner": "Ann"},
    {"id": 2, "name": "Rover", "breedId": 2, "age": 7, "owner": "Bob"},
    {"id": 3, "name": "Spot", "breedId": 1, "age": 5, "owner": "Ann"},
    {"id": 4, "name": "Fido", "breedId": 2, "age": 1, "owner": "Cy"},
]


class SearchTests(OperationsCase):
    """
    Searches run through the table resource's C{search}.
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.ok({"operation": "insert", "table": "Breed", "records": [{"id": 1, "name": "Lab"}, {"id": 2, "name": "Pug"}]})
        await self.ok({"operation": "insert", "table": "Dog", "records": DOGS})

    async def search(self, **fields: Any) -> Any:
        return await self.ok({"table": "Dog", "get_attributes": ["id"], **fields})

    async def ids(self, **fields: Any) -> list:
        return [record["id"] for record in await self.search(**fields)]

    async def test_by_id(self) -> None:
        """
        C{search_by_id} returns the records found, with the attributes asked for; ids given
        as text are converted to the key type.
        """
        found = await self.search(operation="search_by_id", ids=[3, "1", 99], get_attributes=["id", "name"])
        self.assertEqual(found, [{"id": 1, "name": "Rex"}, {"id": 3, "name": "Spot"}])
        everything = await self.search(operation="search_by_hash", hash_values=[2], get_attributes=["*"])
        self.assertEqual(everything, [DOGS[1]])

    async def test_by_value_wildcards(self) -> None:
        """
        C{search_by_value} compares exactly, or by prefix, suffix or part with C{*}.
        """
        self.assertEqual(await self.ids(operation="search_by_value", attribute="name", value="Rex"), [1])
        self.assertEqual(await self.ids(operation="search_by_value", attribute="name", value="R*"), [1, 2])
        self.assertEqual(await self.ids(operation="search_by_value", search_attribute="name", search_value="*o"), [4])
        self.assertEqual(await self.ids(operation="search_by_value", attribute="owner", value="*n*"), [1, 3])
        self.assertEqual(await self.ids(operation="search_by_value", attribute="age", value=5), [3])
        self.assertEqual(await self.ids(operation="search_by_value", attribute="name", value="*"), [1, 2, 3, 4])

    async def test_by_value_through_relationship(self) -> None:
        """
        An attribute path reaches through a relationship.
        """
        found = await self.ids(operation="search_by_value", attribute=["breed", "name"], value="Pug")
        self.assertEqual(found, [2, 4])

    async def test_by_value_bad_input(self) -> None:
        """
        A missing value or a wildcard inside the value is a 400 naming the field.
        """
        body = {"operation": "search_by_value", "table": "Dog", "attribute": "name"}
        self.assertEqual(await self.refused(body, 400), "value: required")
        message = await self.refused({**body, "value": "R*x"}, 400)
        self.assertEqual(message, "value: a * wildcard may only start or end the value")

    async def test_by_conditions(self) -> None:
        """
        Nested conditions with C{and}/C{or}, sorting with a tie breaker, and paging.
        """
        conditions = [
            {"attribute": "age", "comparator": "greater_than", "value": 2},
            {"operator": "or", "conditions": [
                {"search_attribute": "owner", "search_type": "equals", "search_value": "Ann"},
                {"attribute": "name", "comparator": "starts_with", "value": "Ro"},
            ]},
        ]
        found = await self.ids(operation="search_by_conditions", conditions=conditions)
        self.assertEqual(found, [1, 2, 3])
        sort = {"attribute": "owner", "descending": True, "next": {"attribute": "age", "descending": True}}
        found = await self.ids(operation="search_by_conditions", conditions=conditions, sort=sort)
        self.assertEqual(found, [2, 3, 1])
        found = await self.ids(operation="search_by_conditions", conditions=conditions, sort=sort, offset=1, limit=1)
        self.assertEqual(found, [3])
        found = await self.ids(operation="search_by_conditions", operator="or", conditions=[
            {"attribute": "age", "comparator": "between", "value": [1, 3]},
            {"attribute": "id", "comparator": "equals", "value": 2},
        ])
        self.assertEqual(found, [1, 2, 4])

    async def test_by_conditions_bad_input(self) -> None:
        """
        Every malformed part of the conditions is a 400 naming it by its path.
        """
        body = {"operation": "search_by_conditions", "table": "Dog", "get_attributes": ["id"]}
        cases = [
            ({}, "conditions: required"),
            ({"conditions": []}, "conditions: must hold at least one condition"),
            ({"conditions": [{"attribute": "age", "value": 1}]}, "conditions[0].comparator: required"),
            ({"conditions": [{"attribute": "age", "comparator": "equals"}]}, "conditions[0].value: required"),
            ({"conditions": [{"attribute": "age", "comparator": "near", "value": 1}]},
             "conditions[0].comparator: 'near' is not one of "),
            ({"conditions": [{"operator": "xor", "conditions": []}]},
             "conditions[0].operator: expected 'and' or 'or', got 'xor'"),
            ({"conditions": [{"operator": "or", "conditions": [{"attribute": 5, "comparator": "equals", "value": 1}]}]},
             "conditions[0].conditions[0].attribute: expected an attribute name"),
            ({"conditions": [{"attribute": "age", "comparator": "between", "value": 1}]},
             "conditions[0].value: between needs a list of two values"),
            ({"conditions": [{"attribute": "age", "comparator": "equals", "value": 1}], "limit": -1},
             "limit: must be at least 0, got -1"),
            ({"conditions": [{"attribute": "age", "comparator": "equals", "value": 1}], "sort": {"descending": True}},
             "sort.attribute: required"),
            ({"conditions": [{"attribute": "age", "comparator": "equals", "value": 1}], "get_attributes": "id"},
             "get_attributes: expected a list, got text"),
        ]
        for extra, expected in cases:
            message = await self.refused({**body, **extra}, 400)
            self.assertTrue(message.startswith(expected), (message, expected))
