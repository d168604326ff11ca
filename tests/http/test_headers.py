"""
Tests for L{harper.http.headers}.
"""

from twisted.trial.unittest import TestCase
from twisted.web.http_headers import Headers

from harper.http.headers import RequestHeaders


class RequestHeadersTests(TestCase):
    """
    The request headers as a mapping.
    """

    def test_mapping(self):
        """
        Names are case-insensitive, listed in lower case, and give their last value.
        """
        headers = RequestHeaders(Headers({b"X-Trace": [b"a", b"b"], b"Accept": [b"*/*"]}))
        self.assertEqual((headers["x-trace"], headers["ACCEPT"]), ("b", "*/*"))
        self.assertEqual((sorted(headers), len(headers)), (["accept", "x-trace"], 2))
        self.assertNotIn("prefer", headers)
        self.assertIsNone(headers.get("prefer"))
