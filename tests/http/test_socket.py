"""
The REST interface over real loopback sockets: the HTTP framing a client sees (lengths, HEAD,
304, compression, keep-alive) with an independent client.
"""

from __future__ import annotations

import gzip

import orjson
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from twisted.logger import globalLogPublisher
from twisted.web.resource import Resource
from twisted.web.test.requesthelper import DummyRequest

from harper.http.site import HarperRoot, make_site
from tests.http.helpers import SocketClient, rest_api, start_runtime, through_lane


class SocketTests(TestCase):
    """
    A runtime's REST interface behind L{HarperRoot} on a port (served by the REST lane with
    L{lane}).
    """

    lane = False

    @inlineCallbacks
    def setUp(self):
        runtime = start_runtime(self)
        rest = rest_api(runtime, compression_threshold=100)
        self.client = SocketClient(self, HarperRoot(rest, []), rest=rest if self.lane else None)
        for n in range(20):
            yield runtime.tables.Dog.put(f"d{n:02}", {"name": f"Dog {n}", "age": n})

    @inlineCallbacks
    def test_write_then_read(self):
        """
        A POST, a GET of its Location, a PATCH and a DELETE over one kept-alive connection.
        """
        created = yield self.client.request("POST", "/Dog/", orjson.dumps({"name": "New"}))
        self.assertEqual(created.status, 201)
        location = created.header("location")
        found = yield self.client.request("GET", location)
        self.assertEqual(found.json()["name"], "New")
        patched = yield self.client.request("PATCH", location, b'{"age": 2}')
        deleted = yield self.client.request("DELETE", location)
        gone = yield self.client.request("GET", location)
        self.assertEqual((patched.status, deleted.status, gone.status), (204, 204, 404))

    @inlineCallbacks
    def test_query_with_raw_operators(self):
        """
        Raw C{<}, C{|} and brackets reach the parser as sent.
        """
        reply = yield self.client.request("GET", "/Dog/?[age<3|age>=18]&select(name)&sort(-age)")
        self.assertEqual(reply.json(), ["Dog 19", "Dog 18", "Dog 2", "Dog 1", "Dog 0"])

    @inlineCallbacks
    def test_compressed_collection(self):
        """
        A collection above the threshold arrives gzip-compressed.
        """
        reply = yield self.client.request("GET", "/Dog/", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(reply.header("content-encoding"), "gzip")
        self.assertEqual(len(orjson.loads(gzip.decompress(reply.body))), 20)

    @inlineCallbacks
    def test_head_and_not_modified(self):
        """
        HEAD and 304 answers carry no body, and the connection stays usable.
        """
        head = yield self.client.request("HEAD", "/Dog/d01")
        self.assertEqual((head.status, head.body), (200, b""))
        cached = yield self.client.request("GET", "/Dog/d01", headers={"If-None-Match": head.header("etag")})
        self.assertEqual((cached.status, cached.body), (304, b""))
        after = yield self.client.request("GET", "/Dog/d01")
        self.assertEqual(after.json()["age"], 1)



LaneSocketTests = through_lane(SocketTests)

class AccessLogTests(TestCase):
    """
    The access log of the HTTP site.
    """

    def test_combined_format(self):
        """
        With the access log on, each request is logged as an info event of C{harper.access}
        in combined log format; without it, nothing is logged.
        """
        events = []
        site = make_site(Resource(), access_log=True)
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        request = DummyRequest([b"Dog", b"1"])
        request.method = b"GET"
        request.uri = b"/Dog/1"
        request.code = 404
        request.sentLength = 21
        site.log(request)
        [event] = [e for e in events if e.get("log_namespace") == "harper.access"]
        make_site(Resource()).log(request)
        self.assertEqual(len([e for e in events if e.get("log_namespace") == "harper.access"]), 1)
        self.assertEqual((event["log_namespace"], event["log_level"].name), ("harper.access", "info"))
        self.assertIn('"GET /Dog/1 HTTP/1.0" 404 21', event["line"])
