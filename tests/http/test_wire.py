"""
Tests for L{harper.http.wire}: reading request heads, and the names and lines it remembers.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.http import wire
from harper.http.wire import BadHead, Unusual, field_name, parse_head, status_line


class ParseHeadTests(TestCase):
    """
    Heads the lane reads, heads it leaves to twisted.web, and heads nobody can read.
    """

    def test_read(self) -> None:
        """
        Method, target, path, version, lower-case fields, length and keep-alive.
        """
        head = parse_head(b"PUT /Dog/1?x=1 HTTP/1.1\r\nContent-Length: 12\r\nX-Thing:  a b \r\nConnection: Close")
        self.assertEqual((head.method, head.target, head.path, head.version), (b"PUT", b"/Dog/1?x=1", b"/Dog/1", b"HTTP/1.1"))
        self.assertEqual(head.fields[b"x-thing"], b"a b")
        self.assertEqual((head.content_length, head.keep_alive), (12, False))
        self.assertTrue(parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive").keep_alive)
        self.assertFalse(parse_head(b"GET / HTTP/1.0").keep_alive)

    def test_unusual(self) -> None:
        """
        Folded, repeated or malformed fields, absolute targets and odd request lines go to
        twisted.web.
        """
        for block in (
            b"GET http://x/ HTTP/1.1", b"GET / HTTP/1.1 extra", b"GET / HTTP/1.1\r\nA: 1\r\nA: 2",
            b"GET / HTTP/1.1\r\n folded", b"GET / HTTP/1.1\r\nNo colon", b"GET / HTTP/1.1\r\nA: b\nc",
            b"GET / HTTP/1.1\r\nBad name: 1",
        ):
            self.assertRaises(Unusual, parse_head, block)

    def test_bad(self) -> None:
        """
        An unknown HTTP version is a 505, a length that is not a number a 400.
        """
        self.assertEqual(self.assertRaises(BadHead, parse_head, b"GET / HTTP/3.0").status, 505)
        for length in (b"-1", b"", b"1e3", b"9" * 19):
            error = self.assertRaises(BadHead, parse_head, b"PUT / HTTP/1.1\r\nContent-Length: " + length)
            self.assertEqual(error.status, 400)


class RememberedTests(TestCase):
    """
    Canonical names and status lines are computed once, and the names remembered are bounded
    (request field names come from clients).
    """

    def test_names(self) -> None:
        """
        C{content-type} is C{Content-Type}; thousands of new names do not grow the memory
        past its bound.
        """
        self.assertEqual(field_name(b"content-type"), b"Content-Type")
        for number in range(wire._REMEMBERED + 100):
            self.assertEqual(field_name(b"x-%d" % number), b"X-%d" % number)
        self.assertLessEqual(len(wire._NAMES), wire._REMEMBERED)

    def test_status_line(self) -> None:
        """
        The status line names the reason.
        """
        self.assertEqual(status_line(b"HTTP/1.1", 404), b"HTTP/1.1 404 Not Found\r\n")
