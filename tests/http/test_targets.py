"""
Tests for L{harper.http.targets}: from request URLs to what they address.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.errors import QuerySyntaxError
from harper.http.targets import parsed_query
from harper.resources.querystring import parse_query


class ParsedQueryTests(TestCase):
    """
    L{parsed_query}: query strings to L{harper.database.conditions.Query}, remembered.
    """

    def test_repeated_text_same_query(self) -> None:
        """
        The same query string gives the same (immutable) query each time, equal to a fresh
        parse.
        """
        first = parsed_query("breedId=3&limit(10)")
        self.assertIs(parsed_query("breedId=3&limit(10)"), first)
        self.assertEqual(first, parse_query("breedId=3&limit(10)"))

    def test_escapes_read(self) -> None:
        """
        Escaped operator characters read as the characters, remembered or not.
        """
        self.assertEqual(parsed_query("age%3C5"), parse_query("age<5"))
        self.assertEqual(parsed_query("age%3C5"), parse_query("age<5"))

    def test_errors_every_time(self) -> None:
        """
        A bad query string is refused every time it is sent, with the reason and the query.
        """
        for _ in range(2):
            error = self.assertRaises(QuerySyntaxError, parsed_query, "limit(")
            self.assertIn("Unable to parse query 'limit('", error.message)
