"""
C{Cache-Control} request directives on a caching table over REST: C{max-age}, C{only-if-cached},
C{no-cache}, C{no-store}, C{stale-if-error}, and C{Age} on answers from the cache; in memory and
over a real socket.
"""

from __future__ import annotations

import threading

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.http.site import HarperRoot
from harper.resources.base import Resource
from tests.http.helpers import MemoryClient, SocketClient, rest_api, start_runtime

SCHEMA = """
type Cached @table @export {
  id: ID @primaryKey
  name: String
}
type Plain @table @export {
  id: ID @primaryKey
  name: String
}
"""


class CountingSource(Resource):
    """
    A source answering C{{"name": "v<n>"}} on its n-th call, or failing when told to.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False
        self._lock = threading.Lock()

    def get(self, target, context):
        with self._lock:
            self.calls += 1
            calls = self.calls
        if self.failing:
            raise RuntimeError("the origin is down")
        return {"name": f"v{calls}"}


class CacheControlTests(TestCase):
    """
    A caching table C{Cached} over L{CountingSource}, read through REST in memory.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self, schema=SCHEMA)
        self.source = CountingSource()
        self.runtime.tables.Cached.sourced_from(self.source, expiration=60, timeout=5)
        self.client = MemoryClient(rest_api(self.runtime))

    def get(self, cache_control=None, key="k"):
        headers = {"Cache-Control": cache_control} if cache_control else {}
        return self.client.request("GET", f"/Cached/{key}", headers=headers)

    def store(self, name: str, seconds_ago: float = 0.0, expired_for: float = None):
        """
        Store record C{k} as if fetched C{seconds_ago}, expired for C{expired_for} seconds.
        """
        table = self.runtime.tables.Cached.resource.table

        def work(txn):
            now = txn.timestamp
            expires = None if expired_for is None else now - expired_for * 1000.0
            txn.timestamp = now - seconds_ago * 1000.0
            return table.put(txn, {"id": "k", "name": name}, expires_at=expires)

        return self.runtime.runner.run(work)

    @inlineCallbacks
    def test_hit_has_age(self):
        """
        A record served from the cache carries its age in seconds; one just fetched does not.
        """
        fetched = yield self.get()
        self.assertEqual((fetched.json()["name"], fetched.header("age")), ("v1", None))
        yield self.store("old", seconds_ago=5)
        hit = yield self.get()
        self.assertEqual(hit.json()["name"], "old")
        self.assertIn(hit.header("age"), ("4", "5", "6"))
        self.assertEqual(self.source.calls, 1)

    @inlineCallbacks
    def test_max_age(self):
        """
        max-age=N serves a record younger than N seconds and fetches an older one again.
        """
        yield self.store("old", seconds_ago=30)
        young_enough = yield self.get("max-age=60")
        self.assertEqual((young_enough.json()["name"], self.source.calls), ("old", 0))
        refetched = yield self.get("max-age=10")
        self.assertEqual((refetched.json()["name"], self.source.calls), ("v1", 1))
        stored = yield self.get()
        self.assertEqual(stored.json()["name"], "v1")

    @inlineCallbacks
    def test_only_if_cached(self):
        """
        only-if-cached answers a miss with 504 without calling the source, and a hit normally.
        """
        miss = yield self.get("only-if-cached")
        self.assertEqual(miss.status, 504)
        self.assertIn("not cached", miss.json()["error"])
        self.assertEqual(self.source.calls, 0)
        yield self.store("kept")
        hit = yield self.get("only-if-cached")
        self.assertEqual((hit.status, hit.json()["name"]), (200, "kept"))

    @inlineCallbacks
    def test_only_if_cached_stale(self):
        """
        only-if-cached does not serve an expired record either.
        """
        yield self.store("expired", expired_for=1)
        reply = yield self.get("only-if-cached")
        self.assertEqual((reply.status, self.source.calls), (504, 0))

    @inlineCallbacks
    def test_no_cache(self):
        """
        no-cache fetches from the source although the stored record is fresh, and stores it.
        """
        yield self.store("fresh")
        reply = yield self.get("no-cache")
        self.assertEqual((reply.json()["name"], reply.header("age"), self.source.calls), ("v1", None, 1))
        again = yield self.get()
        self.assertEqual(again.json()["name"], "v1")

    @inlineCallbacks
    def test_no_store(self):
        """
        no-store answers the fetched record without storing it.
        """
        reply = yield self.get("no-store")
        self.assertEqual(reply.json()["name"], "v1")
        cached = yield self.get("only-if-cached")
        self.assertEqual(cached.status, 504)

    @inlineCallbacks
    def test_stale_if_error(self):
        """
        When the source fails, stale-if-error=N serves a record stale for less than N seconds
        (with its Age) and lets the error through otherwise.
        """
        yield self.store("stale", seconds_ago=100, expired_for=30)
        self.source.failing = True
        failed = yield self.get()
        self.assertEqual(failed.status, 502)
        served = yield self.get("stale-if-error=60")
        self.assertEqual((served.status, served.json()["name"]), (200, "stale"))
        self.assertIn(served.header("age"), ("99", "100", "101"))
        too_old = yield self.get("stale-if-error=10")
        self.assertEqual(too_old.status, 502)
        strict = yield self.get("stale-if-error=60, must-revalidate")
        self.assertEqual(strict.status, 502)
        self.flushLoggedErrors(RuntimeError)

    @inlineCallbacks
    def test_no_age_on_writes(self):
        """
        A PATCH, which reads the cached record to merge into it, answers without an Age.
        """
        yield self.store("old", seconds_ago=5)
        reply = yield self.client.request("PATCH", "/Cached/k", b'{"name": "new"}', {"Content-Type": "application/json"})
        self.assertEqual((reply.status, reply.header("age")), (204, None))

    @inlineCallbacks
    def test_ordinary_tables_ignore_directives(self):
        """
        Tables that are not caches ignore the directives (no 504, no Age).
        """
        yield self.runtime.tables.Plain.put("p", {"name": "P"})
        reply = yield self.client.request("GET", "/Plain/p", headers={"Cache-Control": "only-if-cached, max-age=0"})
        self.assertEqual((reply.status, reply.header("age")), (200, None))


class CacheControlSocketTests(TestCase):
    """
    The directives and C{Age} over a real socket.
    """

    @inlineCallbacks
    def test_over_socket(self):
        """
        A miss under only-if-cached is a 504; a fetched record is then a hit with an Age.
        """
        runtime = start_runtime(self, schema=SCHEMA)
        source = CountingSource()
        runtime.tables.Cached.sourced_from(source, expiration=60, timeout=5)
        client = SocketClient(self, HarperRoot(rest_api(runtime), []))
        miss = yield client.request("GET", "/Cached/a", headers={"Cache-Control": "only-if-cached"})
        self.assertEqual(miss.status, 504)
        fetched = yield client.request("GET", "/Cached/a")
        hit = yield client.request("GET", "/Cached/a", headers={"Cache-Control": "max-age=60"})
        self.assertEqual((fetched.json(), hit.json()), ({"id": "a", "name": "v1"}, {"id": "a", "name": "v1"}))
        self.assertEqual((fetched.header("age"), hit.header("age"), source.calls), (None, "0", 1))
