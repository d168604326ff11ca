"""
Tests for L{harper.http.streaming}: large collections are streamed from a worker thread with
flat memory, compressed on the fly, and stopped when the client goes away.
"""

from __future__ import annotations

import gzip
import tracemalloc

import orjson
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Protocol
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers

from harper.http.lane import LaneLimits, RestLane
from harper.http.site import make_site
from tests.http.helpers import rest_api, start_runtime, through_lane

SCHEMA = """
type Small @table @export {
  id: Int @primaryKey
  payload: String
}
type Large @table @export {
  id: Int @primaryKey
  payload: String
}
"""
SMALL, LARGE = 2000, 100_000
PAYLOAD = "x" * 200


class Drain(Protocol):
    """
    Reads a response body, keeping only its size (or, when asked, the bytes).
    """

    def __init__(self, keep: bool = False) -> None:
        self.size = 0
        self.kept: list[bytes] = []
        self.keep = keep
        self.done: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.keep:
            self.kept.append(data)

    def connectionLost(self, reason) -> None:
        if reason.check(ResponseDone):
            self.done.callback(self)
        else:
            self.done.errback(reason)


class StreamingTests(TestCase):
    """
    Streamed collections over a real loopback connection (served by the REST lane with
    L{lane}).
    """

    lane = False

    @inlineCallbacks
    def setUp(self):
        # One database thread: the records written by the seeding transaction are in the
        # object cache of the connection that streams them, so the measures below see what
        # the answer itself costs, not the (bounded) cache filling up. The records of Large
        # take more than the default byte bound of the caches (storage.cacheSizeBytes), so
        # the caches are bounded by their object count only here.
        self.runtime = start_runtime(self, SCHEMA, threads=1)
        self.runtime.db.setCacheSizeBytes(0)
        yield self.seed("Small", SMALL)
        rest = rest_api(self.runtime)
        lane = RestLane(rest, rest, lambda path: True, LaneLimits(), reactor) if self.lane else None
        port = reactor.listenTCP(0, make_site(rest, lane=lane), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=pool)
        self.base = f"http://127.0.0.1:{port.getHost().port}"

    def seed(self, name, count):
        table = getattr(self.runtime.tables, name).resource.table

        def seed(txn):
            for key in range(count):
                table.put(txn, {"id": key, "payload": PAYLOAD})

        return self.runtime.runner.run(seed)

    @inlineCallbacks
    def get(self, path, keep=False, **headers):
        response = yield self.agent.request(b"GET", (self.base + path).encode("ascii"),
                                            Headers({k: [v] for k, v in headers.items()}))
        drain = Drain(keep)
        response.deliverBody(drain)
        yield drain.done
        return response, drain

    @inlineCallbacks
    def peak_while(self, path):
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
            _, drain = yield self.get(path)
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
        return peak, drain.size

    @inlineCallbacks
    def test_memory_stays_flat(self):
        """
        Streaming ten times as many records does not take ten times the memory: the peak
        stays far below the size of the answer.
        """
        yield self.seed("Large", LARGE)
        small_peak, small_size = yield self.peak_while("/Small/")
        large_peak, large_size = yield self.peak_while("/Large/")
        self.assertGreater(large_size, 10 * small_size * 0.9)
        self.assertLess(large_peak, large_size / 4, (small_peak, large_peak, large_size))
        self.assertLess(large_peak, small_peak * 3, (small_peak, large_peak))

    @inlineCallbacks
    def test_whole_and_chunked(self):
        """
        A streamed answer is the complete JSON array, sent with chunked transfer encoding.
        """
        response, drain = yield self.get("/Small/?select(id)", keep=True)
        self.assertEqual(response.code, 200)
        self.assertIsNone(response.headers.getRawHeaders("content-length"))
        self.assertEqual(orjson.loads(b"".join(drain.kept)), list(range(SMALL)))

    @inlineCallbacks
    def test_compressed(self):
        """
        A streamed answer is gzip-compressed on the fly for clients that accept it, with the
        count in C{Content-Range}.
        """
        response, drain = yield self.get("/Small/?id=ge=100&select(id)", keep=True, **{"Accept-Encoding": "gzip", "Prefer": "count=exact"})
        self.assertEqual(response.headers.getRawHeaders("content-encoding"), ["gzip"])
        self.assertEqual(response.headers.getRawHeaders("content-range"), [f"items 0-{SMALL - 101}/{SMALL - 100}"])
        self.assertEqual(orjson.loads(gzip.decompress(b"".join(drain.kept))), list(range(100, SMALL)))


LaneStreamingTests = through_lane(StreamingTests)
