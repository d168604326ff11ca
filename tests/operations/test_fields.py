"""
Tests for L{harper.operations.fields}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.errors import InvalidInput
from harper.operations.fields import Fields


class FieldsTests(SynchronousTestCase):
    """
    Typed access to request fields, with aliases and messages naming the field.
    """

    def message(self, call: object, *args: object) -> str:
        return self.assertRaises(InvalidInput, call, *args).message

    def test_aliases(self) -> None:
        """
        Harper's older field names are read for the current ones.
        """
        fields = Fields({"schema": "dev", "hash_values": [1], "search_attribute": "a", "search_value": 0,
                         "search_type": "equals", "hash_attribute": "id"})
        self.assertEqual(
            (fields.text("database"), fields.list("ids"), fields.text("attribute"), fields.value("value"),
             fields.text("comparator"), fields.text("primary_key")),
            ("dev", [1], "a", 0, "equals", "id"),
        )

    def test_required_and_defaults(self) -> None:
        """
        A field without a default is required; C{null} counts as absent when there is one.
        """
        fields = Fields({"limit": None})
        self.assertEqual(self.message(fields.text, "table"), "table: required")
        self.assertIsNone(fields.integer("limit", None))
        self.assertEqual(fields.text("database", "data"), "data")
        self.assertTrue(fields.has("limit"))
        self.assertFalse(fields.has("offset"))

    def test_types(self) -> None:
        """
        Each accessor refuses other types, naming the field and what it got.
        """
        fields = Fields({"t": 1, "b": "yes", "i": True, "n": -1, "l": {}, "m": [], "e": "", "g": ["a", 2]})
        self.assertEqual(self.message(fields.text, "t"), "t: expected text, got a number")
        self.assertEqual(self.message(fields.boolean, "b"), "b: expected true or false, got text")
        self.assertEqual(self.message(fields.integer, "i"), "i: expected an integer, got a boolean")
        self.assertEqual(self.message(fields.integer, "n"), "n: must be at least 0, got -1")
        self.assertEqual(self.message(fields.list, "l"), "l: expected a list, got an object")
        self.assertEqual(self.message(fields.mapping, "m"), "m: expected an object, got a list")
        self.assertEqual(self.message(fields.text, "e"), "e: must not be empty")
        self.assertEqual(self.message(fields.names, "g"), "g[1]: expected text, got a number")
