"""
Tests for L{harper.operations.query}: request fields to the shared query model.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.database.conditions import Condition, Group, Select, SelectField, SortKey
from harper.errors import InvalidInput
from harper.operations.query import condition_tree, selection, sort_keys, wildcard_condition


class QueryTests(SynchronousTestCase):
    """
    Conditions, sorting, selection and wildcards.
    """

    def test_condition_tree(self) -> None:
        """
        Conditions and nested groups become L{Condition} and L{Group} values; a single
        condition stands alone.
        """
        tree = condition_tree([
            {"attribute": "age", "comparator": "between", "value": [1, 3]},
            {"operator": "or", "conditions": [
                {"attribute": ["breed", "name"], "comparator": "equals", "value": "Lab"},
                {"search_attribute": "name", "search_type": "in", "search_value": ["a", "b"]},
            ]},
        ], "and")
        self.assertEqual(tree, Group("and", (
            Condition("age", "between", (1, 3)),
            Group("or", (Condition(("breed", "name"), "equals", "Lab"), Condition("name", "in", ("a", "b")))),
        )))
        self.assertEqual(condition_tree([{"attribute": "a", "comparator": "equals", "value": None}], "or"),
                         Condition("a", "equals", None))

    def test_bad_conditions(self) -> None:
        """
        A condition that is not an object, or an attribute path with an empty part, is
        refused by its path.
        """
        error = self.assertRaises(InvalidInput, condition_tree, [1], "and")
        self.assertEqual(error.message, "conditions[0]: expected an object, got a number")
        error = self.assertRaises(InvalidInput, condition_tree, [{"attribute": ["a", ""], "comparator": "equals",
                                                                  "value": 1}], "and")
        self.assertTrue(error.message.startswith("conditions[0].attribute: expected an attribute name"))

    def test_sort(self) -> None:
        """
        C{next} adds tie breakers in order.
        """
        keys = sort_keys({"attribute": "a", "next": {"attribute": "b", "descending": True}})
        self.assertEqual(keys, (SortKey("a"), SortKey("b", True)))
        self.assertEqual(sort_keys(None), ())
        error = self.assertRaises(InvalidInput, sort_keys, {"attribute": "a", "next": {"attribute": "b",
                                                                                      "descending": "yes"}})
        self.assertEqual(error.message, "sort.next.descending: expected true or false, got text")

    def test_selection(self) -> None:
        """
        C{["*"]} selects whole records; names select those attributes.
        """
        self.assertIsNone(selection(["*"]))
        self.assertEqual(selection(["id", "name"]), Select((SelectField("id"), SelectField("name"))))

    def test_wildcards(self) -> None:
        """
        C{*} alone matches everything; leading and trailing ones become suffix, prefix and
        part comparisons; values without C{*} (or not text) are compared for equality.
        """
        self.assertIsNone(wildcard_condition("n", "**"))
        self.assertEqual(wildcard_condition("n", "ab*"), Condition("n", "starts_with", "ab"))
        self.assertEqual(wildcard_condition("n", "*ab"), Condition("n", "ends_with", "ab"))
        self.assertEqual(wildcard_condition("n", "*ab*"), Condition("n", "contains", "ab"))
        self.assertEqual(wildcard_condition("n", "ab"), Condition("n", "equals", "ab"))
        self.assertEqual(wildcard_condition("n", 5), Condition("n", "equals", 5))
        self.assertRaises(InvalidInput, wildcard_condition, "n", "a*b")
