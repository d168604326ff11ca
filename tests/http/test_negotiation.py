"""
Tests for L{harper.http.negotiation}.
"""

from twisted.trial.unittest import TestCase

from harper.http.codecs import CBOR_CODEC, CSV_CODEC, FORM_CODEC, JSON_CODEC, MSGPACK_CODEC, YAML_CODEC
from harper.http.errors import NotAcceptable, UnsupportedMediaType
from harper.http.negotiation import accepts_gzip, body_codec, parse_accept, response_codec, split_suffix


class AcceptTests(TestCase):
    """
    Choosing the response codec from C{Accept}.
    """

    def test_default_json(self):
        """
        Without C{Accept}, or with C{*/*}, the answer is JSON.
        """
        self.assertIs(response_codec(None), JSON_CODEC)
        self.assertIs(response_codec("*/*"), JSON_CODEC)

    def test_exact(self):
        """
        An exact media type picks its codec; aliases work.
        """
        self.assertIs(response_codec("application/cbor"), CBOR_CODEC)
        self.assertIs(response_codec("application/msgpack"), MSGPACK_CODEC)
        self.assertIs(response_codec("text/csv"), CSV_CODEC)
        self.assertIs(response_codec("application/yaml"), YAML_CODEC)

    def test_server_preference(self):
        """
        Equal client q-values are decided by the server's weights (CBOR over JSON).
        """
        self.assertIs(response_codec("application/json, application/cbor"), CBOR_CODEC)
        self.assertIs(response_codec("text/csv, application/json"), JSON_CODEC)

    def test_client_quality(self):
        """
        Client q-values multiply the server weights.
        """
        self.assertIs(response_codec("application/json, application/cbor;q=0.5"), JSON_CODEC)
        self.assertIs(response_codec("application/json;q=0.1, text/yaml"), YAML_CODEC)

    def test_specific_wins_over_wildcard(self):
        """
        C{q=0} on a specific type excludes it even when a wildcard matches it.
        """
        self.assertIs(response_codec("application/*, application/cbor;q=0"), MSGPACK_CODEC)

    def test_browser_accept(self):
        """
        A browser's C{Accept} gets JSON.
        """
        header = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        self.assertIs(response_codec(header), JSON_CODEC)

    def test_not_acceptable(self):
        """
        Nothing acceptable is L{NotAcceptable} naming what harper offers.
        """
        error = self.assertRaises(NotAcceptable, response_codec, "image/png")
        self.assertIn("application/json", error.message)

    def test_suffix(self):
        """
        A path suffix wins over C{Accept}.
        """
        self.assertIs(response_codec("application/json", ".msgpack"), MSGPACK_CODEC)
        self.assertEqual(split_suffix("Dog/1.csv"), ("Dog/1", ".csv"))
        self.assertEqual(split_suffix("Dog/1.name"), ("Dog/1.name", None))

    def test_parse_accept(self):
        """
        Malformed q-values count as 1 and are clamped to [0, 1].
        """
        self.assertEqual(parse_accept("a/b;q=x, c/d;q=7, ,e/f;q=-1"), [("a/b", 1.0), ("c/d", 1.0), ("e/f", 0.0)])


class BodyTests(TestCase):
    """
    Choosing the request body decoder from C{Content-Type}.
    """

    def test_types(self):
        """
        JSON (also without a type and C{+json}), CBOR, MessagePack and forms are read.
        """
        self.assertIs(body_codec(None), JSON_CODEC)
        self.assertIs(body_codec("application/vnd.api+json; charset=utf-8"), JSON_CODEC)
        self.assertIs(body_codec("application/CBOR"), CBOR_CODEC)
        self.assertIs(body_codec("application/x-msgpack"), MSGPACK_CODEC)
        self.assertIs(body_codec("application/x-www-form-urlencoded"), FORM_CODEC)

    def test_unsupported(self):
        """
        Other types are L{UnsupportedMediaType}.
        """
        self.assertRaises(UnsupportedMediaType, body_codec, "text/yaml")


class EncodingTests(TestCase):
    """
    C{Accept-Encoding}.
    """

    def test_gzip(self):
        """
        gzip is accepted when named (or C{*}) with a positive q-value.
        """
        self.assertTrue(accepts_gzip("gzip, deflate, br"))
        self.assertTrue(accepts_gzip("*"))
        self.assertFalse(accepts_gzip("gzip;q=0, *"))
        self.assertFalse(accepts_gzip("identity"))
        self.assertFalse(accepts_gzip(None))
