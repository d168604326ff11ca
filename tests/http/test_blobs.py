"""
Tests for L{harper.http.blobs}: bodies of other media types stored as
C{{"contentType", "data"}} records and served back as they are, in memory and over a socket.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.http.blobs import blob_of, decode_request_body, prefers_blob
from harper.http.errors import UnsupportedMediaType
from harper.http.site import HarperRoot
from tests.http.helpers import MemoryClient, SocketClient, rest_api, start_runtime

SCHEMA = """
type Photo @table @export {
  id: ID @primaryKey
  contentType: String
  data: Bytes
}
type Note @table @export @sealed {
  id: ID @primaryKey
  text: String
}
"""

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class DecodeTests(TestCase):
    """
    L{decode_request_body}, L{blob_of} and L{prefers_blob}.
    """

    def test_binary(self) -> None:
        """
        A binary type becomes the blob record holding the bytes as sent.
        """
        self.assertEqual(decode_request_body("image/png", PNG), {"contentType": "image/png", "data": PNG})

    def test_text(self) -> None:
        """
        A text type is stored as its bytes too (with its charset in the type); text data is
        sent as UTF-8.
        """
        value = decode_request_body("text/plain; charset=latin-1", "café".encode("latin-1"))
        self.assertEqual(value, {"contentType": "text/plain; charset=latin-1", "data": "café".encode("latin-1")})
        self.assertEqual(blob_of({"contentType": "text/plain", "data": "café"}), ("text/plain", "café".encode("utf-8")))

    def test_records_still_decoded(self) -> None:
        """
        The types harper reads are decoded as before.
        """
        self.assertEqual(decode_request_body("application/json", b'{"a": 1}'), {"a": 1})
        self.assertEqual(decode_request_body(None, b"[1]"), [1])

    def test_structured_refused(self) -> None:
        """
        Structured types harper does not read are a 415, not a blob.
        """
        for kind in ("application/xml", "text/csv", "text/yaml", "application/atom+xml", "multipart/form-data"):
            self.assertRaises(UnsupportedMediaType, decode_request_body, kind, b"x")

    def test_not_blobs(self) -> None:
        """
        Records without a safe content type and bytes or text data are not blobs.
        """
        self.assertIsNone(blob_of({"contentType": "image/png"}))
        self.assertIsNone(blob_of({"contentType": "image/png", "data": 5}))
        self.assertIsNone(blob_of({"contentType": "image/png\r\nX-Evil: 1", "data": b""}))
        self.assertIsNone(blob_of([1]))

    def test_preference(self) -> None:
        """
        A blob is preferred when its type is accepted at least as much as a record encoding.
        """
        self.assertTrue(prefers_blob(None, "image/png"))
        self.assertTrue(prefers_blob("image/png", "image/png"))
        self.assertTrue(prefers_blob("image/*", "image/png"))
        self.assertTrue(prefers_blob("image/webp,*/*;q=0.8", "image/png"))
        self.assertFalse(prefers_blob("application/json", "image/png"))
        self.assertFalse(prefers_blob("application/json, */*;q=0.1", "image/png"))
        self.assertFalse(prefers_blob("image/png;q=0, */*", "image/png"))
        self.assertFalse(prefers_blob("image/gif", "image/png"))


class BlobRestTests(TestCase):
    """
    Blobs through the REST interface in memory.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self, schema=SCHEMA)
        self.client = MemoryClient(rest_api(self.runtime))

    @inlineCallbacks
    def test_round_trip(self):
        """
        A PUT of an image stores its bytes and type; a GET accepting it gets them as they were.
        """
        put = yield self.client.request("PUT", "/Photo/p1", PNG, {"Content-Type": "image/png"})
        self.assertEqual(put.status, 204)
        stored = yield self.runtime.tables.Photo.get("p1")
        self.assertEqual((stored["contentType"], stored["data"]), ("image/png", PNG))
        for accept in (None, "image/png", "image/*", "*/*"):
            reply = yield self.client.request("GET", "/Photo/p1", headers={"Accept": accept} if accept else {})
            self.assertEqual((reply.status, reply.header("content-type"), reply.body), (200, "image/png", PNG), accept)

    @inlineCallbacks
    def test_record_on_request(self):
        """
        Asking for a record encoding gets the record (data in base64 for JSON).
        """
        yield self.client.request("PUT", "/Photo/p1", b"hello", {"Content-Type": "application/octet-stream"})
        as_json = yield self.client.request("GET", "/Photo/p1", headers={"Accept": "application/json"})
        self.assertEqual(as_json.json(), {"id": "p1", "contentType": "application/octet-stream", "data": "aGVsbG8="})
        suffixed = yield self.client.request("GET", "/Photo/p1.json")
        self.assertEqual(suffixed.header("content-type"), "application/json")

    @inlineCallbacks
    def test_unacceptable(self):
        """
        An Accept matching neither the blob nor a record encoding is a 406, as is one for a
        record that is not a blob.
        """
        yield self.client.request("PUT", "/Photo/p1", PNG, {"Content-Type": "image/png"})
        reply = yield self.client.request("GET", "/Photo/p1", headers={"Accept": "image/gif"})
        self.assertEqual(reply.status, 406)
        self.assertIn("image/gif", reply.json()["error"])
        yield self.client.request("PUT", "/Note/n", b'{"text": "hi"}', {"Content-Type": "application/json"})
        note = yield self.client.request("GET", "/Note/n", headers={"Accept": "image/png"})
        self.assertEqual(note.status, 406)
        collection = yield self.client.request("GET", "/Photo/", headers={"Accept": "image/png"})
        self.assertEqual(collection.status, 406)

    @inlineCallbacks
    def test_post_and_head(self):
        """
        A POST of a text body creates a blob record; HEAD answers its headers without a body.
        """
        created = yield self.client.request("POST", "/Photo/", b"a note", {"Content-Type": "text/plain"})
        self.assertEqual(created.status, 201)
        location = created.header("location")
        head = yield self.client.request("HEAD", location)
        self.assertEqual((head.status, head.header("content-type"), head.body), (200, "text/plain", b""))
        self.assertEqual(head.header("content-length"), "6")

    @inlineCallbacks
    def test_sealed_table_refuses(self):
        """
        A sealed table without the blob attributes refuses a blob with a 400.
        """
        reply = yield self.client.request("PUT", "/Note/n", PNG, {"Content-Type": "image/png"})
        self.assertEqual(reply.status, 400)
        self.assertIn("sealed", reply.json()["error"])

    @inlineCallbacks
    def test_not_modified(self):
        """
        A blob answer carries an ETag, and If-None-Match with it is a 304.
        """
        yield self.client.request("PUT", "/Photo/p1", PNG, {"Content-Type": "image/png"})
        first = yield self.client.request("GET", "/Photo/p1")
        again = yield self.client.request("GET", "/Photo/p1", headers={"If-None-Match": first.header("etag")})
        self.assertEqual(again.status, 304)


class BlobSocketTests(TestCase):
    """
    Blobs over a real socket.
    """

    @inlineCallbacks
    def test_round_trip(self):
        """
        The bytes of a PUT come back unchanged with their type.
        """
        runtime = start_runtime(self, schema=SCHEMA)
        client = SocketClient(self, HarperRoot(rest_api(runtime, compression_threshold=1 << 20), []))
        put = yield client.request("PUT", "/Photo/big", PNG * 100, {"Content-Type": "image/png"})
        self.assertEqual(put.status, 204)
        reply = yield client.request("GET", "/Photo/big", headers={"Accept": "image/png"})
        self.assertEqual((reply.status, reply.header("content-type"), reply.body), (200, "image/png", PNG * 100))
