"""
Tests for L{harper.http.codecs} and L{harper.http.encoding}.
"""

import datetime

import cbor2
import msgpack
import orjson
import yaml
from twisted.trial.unittest import TestCase

from harper.errors import InvalidInput
from harper.http.codecs import CBOR_CODEC, CSV_CODEC, JSON_CODEC, MSGPACK_CODEC, TEXT_CODEC, YAML_CODEC
from harper.http.encoding import decode_body

RECORD = {
    "id": 1,
    "name": "Rex",
    "born": datetime.datetime(2020, 5, 1, 12, 0, tzinfo=datetime.timezone.utc),
    "tags": ("a", "b"),
    "owner": {"name": "Ann"},
    "photo": b"\x00\x01",
}


def sequence(codec, values):
    return b"".join(codec.encode_sequence(iter(values)))


class EncodeTests(TestCase):
    """
    Values and sequences in each media type.
    """

    def test_json(self):
        """
        JSON writes dates in ISO 8601, bytes in base64 and sequences as an array.
        """
        decoded = orjson.loads(JSON_CODEC.encode(RECORD))
        self.assertEqual((decoded["born"], decoded["photo"], decoded["tags"]), ("2020-05-01T12:00:00+00:00", "AAE=", ["a", "b"]))
        self.assertEqual(orjson.loads(sequence(JSON_CODEC, [1, {"a": 2}])), [1, {"a": 2}])
        self.assertEqual(sequence(JSON_CODEC, []), b"[]")

    def test_json_sequence_chunks(self):
        """
        Long sequences come in several chunks that join to one array.
        """
        chunks = list(JSON_CODEC.encode_sequence({"n": n, "pad": "x" * 100} for n in range(1000)))
        self.assertGreater(len(chunks), 3)
        self.assertEqual(len(orjson.loads(b"".join(chunks))), 1000)

    def test_cbor(self):
        """
        CBOR keeps dates and bytes; a sequence is an indefinite-length array.
        """
        self.assertEqual(cbor2.loads(CBOR_CODEC.encode(RECORD)), {**RECORD, "tags": ["a", "b"]})
        encoded = sequence(CBOR_CODEC, [1, 2])
        self.assertEqual(encoded[:1], b"\x9f")
        self.assertEqual(cbor2.loads(encoded), [1, 2])

    def test_msgpack(self):
        """
        MessagePack keeps dates (timestamps) and bytes; a sequence is concatenated values.
        """
        decoded = msgpack.unpackb(MSGPACK_CODEC.encode(RECORD), timestamp=3)
        self.assertEqual(decoded, {**RECORD, "tags": ["a", "b"]})
        unpacker = msgpack.Unpacker()
        unpacker.feed(sequence(MSGPACK_CODEC, [{"a": 1}, {"a": 2}]))
        self.assertEqual(list(unpacker), [{"a": 1}, {"a": 2}])

    def test_csv(self):
        """
        CSV has a header from the first record and one row per record; nested values are
        JSON, missing ones empty.
        """
        encoded = sequence(CSV_CODEC, [{"id": 1, "name": "Rex", "owner": {"n": 1}}, {"id": 2}])
        self.assertEqual(encoded, b'id,name,owner\r\n1,Rex,"{""n"":1}"\r\n2,,\r\n')
        self.assertEqual(CSV_CODEC.encode("x"), b"value\r\nx\r\n")

    def test_yaml(self):
        """
        YAML writes records and sequences as YAML.
        """
        self.assertEqual(yaml.safe_load(YAML_CODEC.encode({"a": (1, 2)})), {"a": [1, 2]})
        self.assertEqual(yaml.safe_load(sequence(YAML_CODEC, [{"a": 1}, {"a": 2}])), [{"a": 1}, {"a": 2}])
        self.assertEqual(yaml.safe_load(sequence(YAML_CODEC, [])), [])

    def test_text(self):
        """
        Plain text writes strings as they are and anything else as JSON.
        """
        self.assertEqual((TEXT_CODEC.encode("hi"), TEXT_CODEC.encode({"a": 1})), (b"hi", b'{"a":1}'))


class DecodeTests(TestCase):
    """
    Request bodies.
    """

    def test_round_trips(self):
        """
        JSON, CBOR and MessagePack bodies decode to the value encoded.
        """
        value = {"name": "Rex", "age": 3, "tags": ["a"]}
        self.assertEqual(decode_body("application/json", orjson.dumps(value)), value)
        self.assertEqual(decode_body("application/cbor", cbor2.dumps(value)), value)
        self.assertEqual(decode_body("application/x-msgpack", msgpack.packb(value)), value)

    def test_form(self):
        """
        Forms decode to a mapping; repeated names become lists.
        """
        body = b"name=Rex+II&tag=a&tag=b&empty="
        self.assertEqual(decode_body("application/x-www-form-urlencoded", body), {"name": "Rex II", "tag": ["a", "b"], "empty": ""})

    def test_malformed(self):
        """
        Malformed bodies are L{InvalidInput} naming the type.
        """
        for content_type, body, name in [
            ("application/json", b"{", "JSON"),
            ("application/cbor", b"\xff", "CBOR"),
            ("application/x-msgpack", b"\xc1", "MessagePack"),
            ("application/x-msgpack", b"\x01\x02", "MessagePack"),
            ("application/x-www-form-urlencoded", b"\xff=1", "form"),
        ]:
            error = self.assertRaises(InvalidInput, decode_body, content_type, body)
            self.assertIn(name, error.message)

    def test_empty(self):
        """
        An empty body is L{InvalidInput}.
        """
        self.assertRaises(InvalidInput, decode_body, "application/json", b"")
