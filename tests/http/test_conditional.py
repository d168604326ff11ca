"""
Tests for L{harper.http.conditional}.
"""

from twisted.trial.unittest import TestCase

from harper.http.conditional import etag, last_modified, none_match, server_timing


class ValidatorTests(TestCase):
    """
    Entity tags, C{If-None-Match}, C{Last-Modified} and C{Server-Timing}.
    """

    def test_etag(self):
        """
        An entity tag is quoted, short and differs between versions.
        """
        tag = etag(1764000000000.5)
        self.assertEqual((tag[0], tag[-1], len(tag)), ('"', '"', 13))
        self.assertNotEqual(tag, etag(1764000000000.501))

    def test_none_match(self):
        """
        C{If-None-Match} matches its tags (weak or strong, in a list) and C{*}.
        """
        tag = etag(1.0)
        self.assertTrue(none_match(tag, tag))
        self.assertTrue(none_match(f'"other", W/{tag}', tag))
        self.assertTrue(none_match("*", tag))
        self.assertFalse(none_match('"other"', tag))
        self.assertFalse(none_match(None, tag))

    def test_last_modified(self):
        """
        C{Last-Modified} is the HTTP date of the version.
        """
        self.assertEqual(last_modified(784111777000.0), b"Sun, 06 Nov 1994 08:49:37 GMT")

    def test_server_timing(self):
        """
        C{Server-Timing} gives the milliseconds spent in the database.
        """
        self.assertEqual(server_timing(0.0071654), b"db;dur=7.165")
