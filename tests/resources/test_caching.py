"""
Tests for caching tables: read-through with one source call per id, timeouts, stale values,
write-through, expiration and the eviction sweep.
"""

import concurrent.futures
import threading
import time

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from harper.database.events import ChangeFeed
from harper.errors import NotFound, SourceError, SourceTimeout
from harper.resources.base import Resource
from harper.resources.caching import CachePolicy, SourceCache
from harper.resources.calls import Databases, ResourceCaller
from harper.resources.context import RequestContext
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget
from harper.schema.model import Schema, TableDefinition
from harper.service.sweeper import ExpirationSweeper, evict_expired, scan_interval
from tests.helpers import attribute, create_tables, file_runner


class SlowSource(Resource):
    """
    A source that takes a while to answer and counts its calls.
    """

    def __init__(self, delay: float = 0.2, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.calls = 0
        self.writes = []
        self._lock = threading.Lock()

    def get(self, target, context):
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("backend down")
        if target.id == "missing":
            return None
        return {"name": f"fetched {target.id}"}

    def put(self, target, data, context):
        self.writes.append(("put", target.id, dict(data)))

    def delete(self, target, context):
        self.writes.append(("delete", target.id))


def cache_definition(**options) -> TableDefinition:
    return TableDefinition(
        type_name="Cached",
        name="Cached",
        attributes=(attribute("id", primary_key=True), attribute("name")),
        **options,
    )


class CachingTests(TestCase):
    """
    A caching table over L{SlowSource}.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self, threads=24)
        self.executor = concurrent.futures.ThreadPoolExecutor(4)
        self.addCleanup(self.executor.shutdown, wait=True)
        [self.table] = create_tables(self.runner, cache_definition(expiration=60))
        self.resource = TableResource(self.table, Schema(), lambda name: None, ChangeFeed())
        self.caller = ResourceCaller(self.runner, Databases())

    def use_source(self, source, **policy) -> None:
        self.resource.sourced_from(SourceCache(source, CachePolicy(**policy), self.executor, reactor))

    def get(self, key):
        return self.caller.call("get", self.resource, RequestTarget.record(key), RequestContext())

    @defer.inlineCallbacks
    def test_one_source_call_under_concurrent_misses(self) -> None:
        """
        Twenty concurrent misses for the same id call the source once; all get the record,
        and it is stored.
        """
        source = SlowSource()
        self.use_source(source)
        results = yield defer.gatherResults([self.get("k") for _ in range(20)])
        self.assertEqual(source.calls, 1)
        self.assertEqual({r["name"] for r in results}, {"fetched k"})
        stored = self.runner.run_blocking(lambda txn: self.table.get(txn, "k"))
        self.assertEqual(stored, {"id": "k", "name": "fetched k"})
        yield self.get("k")
        self.assertEqual(source.calls, 1)

    @defer.inlineCallbacks
    def test_expired_record_refetched(self) -> None:
        """
        A stale record is fetched again.
        """
        source = SlowSource(delay=0)
        self.use_source(source)
        self.runner.run_blocking(
            lambda txn: self.table.put(txn, {"id": "k", "name": "old"}, expires_at=txn.timestamp - 1)
        )
        record = yield self.get("k")
        self.assertEqual(record["name"], "fetched k")
        self.assertEqual(source.calls, 1)

    @defer.inlineCallbacks
    def test_missing_in_source(self) -> None:
        """
        A record the source does not have is L{NotFound}.
        """
        self.use_source(SlowSource(delay=0))
        yield self.assertFailure(self.get("missing"), NotFound)

    @defer.inlineCallbacks
    def test_timeout(self) -> None:
        """
        A source slower than the timeout gives L{SourceTimeout}, not a hang.
        """
        self.use_source(SlowSource(delay=1.0), timeout=0.05)
        started = time.monotonic()
        yield self.assertFailure(self.get("k"), SourceTimeout)
        self.assertLess(time.monotonic() - started, 0.9)

    @defer.inlineCallbacks
    def test_failure_is_clear_or_stale(self) -> None:
        """
        A failing source is a L{SourceError}; with C{stale_on_error} the stale record is served.
        """
        self.use_source(SlowSource(delay=0, fail=True))
        yield self.assertFailure(self.get("k"), SourceError)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.runner.run_blocking(
            lambda txn: self.table.put(txn, {"id": "k", "name": "stale"}, expires_at=txn.timestamp - 1)
        )
        self.use_source(SlowSource(delay=0, fail=True), stale_on_error=True)
        record = yield self.get("k")
        self.assertEqual(record["name"], "stale")
        self.flushLoggedErrors(RuntimeError)

    @defer.inlineCallbacks
    def test_write_through(self) -> None:
        """
        Writes reach the source before they are stored.
        """
        source = SlowSource(delay=0)
        self.use_source(source)
        yield self.caller.call("put", self.resource, RequestTarget.record("w"), RequestContext(), {"name": "x"})
        yield self.caller.call("delete", self.resource, RequestTarget.record("w"), RequestContext())
        self.assertEqual(source.writes, [("put", "w", {"name": "x", "id": "w"}), ("delete", "w")])


class EvictionTests(TestCase):
    """
    The sweep removes records past expiration plus eviction.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        [self.table] = create_tables(self.runner, cache_definition(expiration=10, eviction=5, scan_interval=2))
        self.resource = TableResource(self.table, Schema(), lambda name: None, ChangeFeed())

    def test_evict_expired(self) -> None:
        """
        Only records whose expiry plus eviction has passed are removed, without change events.
        """
        events = []
        self.runner.feed.listen(events.append)

        def load(txn):
            now = txn.timestamp
            self.table.put(txn, {"id": "gone"}, expires_at=now - 6000)
            self.table.put(txn, {"id": "stale"}, expires_at=now - 1000)
            self.table.put(txn, {"id": "fresh"})

        self.runner.run_blocking(load)
        del events[:]
        removed = self.runner.run_blocking(lambda txn: evict_expired(txn, [self.resource]))
        self.assertEqual(removed, 1)
        keys = self.runner.run_blocking(lambda txn: sorted(e.value["id"] for e in self.table.scan(txn)))
        self.assertEqual(keys, ["fresh", "stale"])
        self.assertEqual(events, [])

    def test_sweeper_runs_on_interval(self) -> None:
        """
        The sweeper service sweeps at its interval on the clock it is given.
        """
        self.assertEqual(scan_interval(self.resource), 2)
        sweeps = []
        clock = Clock()
        sweeper = ExpirationSweeper(lambda work: sweeps.append(work) or defer.succeed(0), lambda: [self.resource], 2)
        sweeper.clock = clock
        sweeper.startService()
        self.addCleanup(sweeper.stopService)
        clock.advance(2)
        clock.advance(2)
        self.assertEqual(len(sweeps), 3)
