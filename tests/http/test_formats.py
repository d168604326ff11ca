"""
Content negotiation, conditional requests and compression through the REST interface.
"""

from __future__ import annotations

import gzip

import cbor2
import msgpack
import orjson
import yaml
from twisted.internet.defer import inlineCallbacks

from tests.http.helpers import RestTestCase, through_lane

REX = {"name": "Rex", "breedId": 1, "age": 3, "weight": 11.5, "tags": ["calm", "old"]}
ENCODERS = {
    "application/json": orjson.dumps,
    "application/cbor": cbor2.dumps,
    "application/x-msgpack": msgpack.packb,
}
DECODERS = {
    "application/json": orjson.loads,
    "application/cbor": cbor2.loads,
    "application/x-msgpack": msgpack.unpackb,
}


class FormatTests(RestTestCase):
    """
    Request bodies and answers in every media type.
    """

    @inlineCallbacks
    def test_round_trips(self):
        """
        A record PUT in JSON, CBOR or MessagePack reads back the same in each of them.
        """
        for sent in ENCODERS:
            reply = yield self.request("PUT", "/Dog/rt", ENCODERS[sent](REX), {"Content-Type": sent})
            self.assertEqual(reply.status, 204, sent)
            for accepted in DECODERS:
                reply = yield self.request("GET", "/Dog/rt", headers={"Accept": accepted})
                self.assertEqual(reply.header("content-type"), accepted)
                record = DECODERS[accepted](reply.body)
                self.assertEqual({k: record[k] for k in REX}, REX, (sent, accepted))

    @inlineCallbacks
    def test_form_body(self):
        """
        A URL-encoded form is a record body too.
        """
        reply = yield self.request("PUT", "/Owner/bob", b"name=Bob&email=bob%40example.com",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(reply.status, 204)
        stored = yield self.request("GET", "/Owner/bob")
        self.assertEqual(stored.json()["email"], "bob@example.com")

    @inlineCallbacks
    def test_collections(self):
        """
        Collections are a CBOR array, concatenated MessagePack values, YAML and CSV lists.
        """
        query = "/Dog/?breedId=2&select(name)&sort(name)"
        cbor = yield self.request("GET", query, headers={"Accept": "application/cbor"})
        self.assertEqual(cbor2.loads(cbor.body), ["Ace", "Bo"])
        packed = yield self.request("GET", query, headers={"Accept": "application/x-msgpack"})
        unpacker = msgpack.Unpacker()
        unpacker.feed(packed.body)
        self.assertEqual(list(unpacker), ["Ace", "Bo"])
        yamled = yield self.request("GET", query, headers={"Accept": "text/yaml"})
        self.assertEqual(yaml.safe_load(yamled.body), ["Ace", "Bo"])
        csv = yield self.request("GET", "/Dog/?breedId=2&select(id,name)&sort(name)", headers={"Accept": "text/csv"})
        self.assertEqual(csv.body, b"id,name\r\nkennel/a/1,Ace\r\nkennel/a/2,Bo\r\n")
        self.assertEqual(csv.header("content-disposition"), 'attachment; filename="data.csv"')

    @inlineCallbacks
    def test_suffixes(self):
        """
        C{.json}, C{.cbor}, C{.msgpack} and C{.csv} suffixes choose the type over C{Accept}.
        """
        record = yield self.request("GET", "/Dog/rex.cbor", headers={"Accept": "application/json"})
        self.assertEqual(cbor2.loads(record.body)["name"], "Rex")
        listing = yield self.request("GET", "/Dog/.csv?select(name)&sort(name)")
        self.assertEqual(listing.body.split(b"\r\n")[:2], [b"value", b"Ace"])

    @inlineCallbacks
    def test_accept_preferences(self):
        """
        C{Accept} with several types is decided by q-values and the server's weights.
        """
        reply = yield self.request("GET", "/Dog/rex", headers={"Accept": "application/json, application/cbor"})
        self.assertEqual(reply.header("content-type"), "application/cbor")
        reply = yield self.request("GET", "/Dog/rex", headers={"Accept": "application/json, application/cbor;q=0.5"})
        self.assertEqual(reply.header("content-type"), "application/json")

    @inlineCallbacks
    def test_not_acceptable(self):
        """
        An C{Accept} harper cannot satisfy is a 406 with a JSON error.
        """
        reply = yield self.request("GET", "/Dog/rex", headers={"Accept": "image/png"})
        self.assertEqual(reply.status, 406)
        self.assertIn("image/png", reply.json()["error"])

    @inlineCallbacks
    def test_error_in_negotiated_type(self):
        """
        Errors are written in the negotiated type.
        """
        reply = yield self.request("GET", "/Dog/nobody", headers={"Accept": "application/cbor"})
        self.assertEqual((reply.status, list(cbor2.loads(reply.body))), (404, ["error"]))

    @inlineCallbacks
    def test_gzip(self):
        """
        Answers above the threshold are gzip-compressed for clients that accept it; small ones
        and other clients get them as they are.
        """
        large = yield self.request("GET", "/Dog/", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(large.header("content-encoding"), "gzip")
        plain = yield self.request("GET", "/Dog/")
        self.assertEqual(orjson.loads(gzip.decompress(large.body)), plain.json())
        self.assertIsNone(plain.header("content-encoding"))
        small = yield self.request("GET", "/Dog/rex.name", headers={"Accept-Encoding": "gzip"})
        self.assertIsNone(small.header("content-encoding"))

    options = {"compression_threshold": 200}


class ConditionalTests(RestTestCase):
    """
    ETag, If-None-Match, Last-Modified and Server-Timing.
    """

    options = {"last_modified": True}

    @inlineCallbacks
    def test_not_modified(self):
        """
        A GET with the record's ETag in C{If-None-Match} is a 304 without a body; after a
        write the ETag changes and the record is sent again.
        """
        first = yield self.request("GET", "/Dog/rex")
        tag = first.header("etag")
        self.assertTrue(tag.startswith('"'))
        again = yield self.request("GET", "/Dog/rex", headers={"If-None-Match": tag})
        self.assertEqual((again.status, again.body, again.header("etag")), (304, b"", tag))
        yield self.request("PATCH", "/Dog/rex", b'{"age": 4}')
        changed = yield self.request("GET", "/Dog/rex", headers={"If-None-Match": tag})
        self.assertEqual(changed.status, 200)
        self.assertNotEqual(changed.header("etag"), tag)

    @inlineCallbacks
    def test_last_modified(self):
        """
        With C{lastModified} on, records carry C{Last-Modified}; every answer has
        C{Server-Timing}.
        """
        reply = yield self.request("GET", "/Dog/rex")
        self.assertTrue(reply.header("last-modified").endswith(" GMT"))
        self.assertTrue(reply.header("server-timing").startswith("db;dur="))


LaneFormatTests = through_lane(FormatTests)
LaneConditionalTests = through_lane(ConditionalTests)
