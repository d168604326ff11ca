# -*- test-case-name: tests.resources.test_caching -*-
"""
Read-through and write-through caching for tables C{sourced_from} another resource.

A miss (or a stale record) calls the source once, even when many transactions miss the same id
at the same time: the first becomes the leader and the others wait for its result. Source calls
run on their own executor so a hanging source costs a timeout, never a stuck worker pool.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import threading
from typing import Any, Callable, Optional

import attr
from twisted.internet.defer import Deferred
from twisted.internet.threads import blockingCallFromThread
from twisted.logger import Logger

from harper.errors import HarperError, NotFound, SourceError, SourceTimeout
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget


@attr.frozen
class CachePolicy:
    """
    How a caching table treats its records.

    :ivar expiration: seconds until a fetched record is stale (C{None}: the table's setting).
    :ivar eviction: seconds after expiry until a stale record is removed.
    :ivar scan_interval: seconds between sweeps removing evictable records.
    :ivar timeout: seconds to wait for the source.
    :ivar stale_on_error: serve a stale record when the source fails.
    """

    expiration: Optional[float] = None
    eviction: float = 0.0
    scan_interval: Optional[float] = None
    timeout: float = 30.0
    stale_on_error: bool = False


@attr.frozen
class Fetched:
    """
    A source's answer: the record (or C{None}: not found) and the expiry it asked for.
    """

    record: Optional[dict]
    expires_at: Optional[float]


class SourceCache:
    """
    Calls a source for cache misses, one call per id at a time.

    :param source: a L{harper.resources.base.Resource} with C{get} (and optionally C{put},
        C{delete}); its methods may be plain or C{async def}.
    :param policy: the caching policy.
    :param executor: runs the source calls.
    :param reactor: runs C{async def} source methods.
    """

    _log = Logger()

    def __init__(
        self,
        source: Any,
        policy: CachePolicy,
        executor: concurrent.futures.Executor,
        reactor: Any,
    ) -> None:
        self.source = source
        self.policy = policy
        self._executor = executor
        self._reactor = reactor
        self._inflight: dict[Any, concurrent.futures.Future] = {}
        self._lock = threading.Lock()

    def fetch(self, key: Any, txn: Any) -> tuple[Fetched, bool]:
        """
        The source's record for C{key}; the boolean says whether this call is the one that
        asked the source (and so must store the result). Raises L{SourceTimeout} or
        L{SourceError}.
        """
        with self._lock:
            future = self._inflight.get(key)
            leader = future is None
            if leader:
                future = self._inflight[key] = self._executor.submit(self._ask_source, key)
        if leader:
            # Keep the answer visible to late followers until the leader's write committed.
            txn.on_end(lambda: self._forget(key, future))
        try:
            return future.result(self.policy.timeout), leader
        except concurrent.futures.TimeoutError:
            raise SourceTimeout(f"the source did not answer for {key!r} in {self.policy.timeout} s")

    def write_through(self, method: str, key: Any, *args: Any) -> None:
        """
        Call the source's C{put} or C{delete} for C{key} (if it has one) and wait for it.
        """
        if not self.source.overrides(method):
            return
        target = RequestTarget.record(key)
        future = self._executor.submit(self._call, method, target, *args, RequestContext())
        try:
            future.result(self.policy.timeout)
        except concurrent.futures.TimeoutError:
            raise SourceTimeout(f"the source did not confirm {method} of {key!r} in time")

    def _forget(self, key: Any, future: concurrent.futures.Future) -> None:
        with self._lock:
            if self._inflight.get(key) is future:
                del self._inflight[key]

    def _ask_source(self, key: Any) -> Fetched:
        context = RequestContext()
        try:
            record = self._call("get", RequestTarget.record(key), context)
        except NotFound:
            record = None
        return Fetched(dict(record) if record is not None else None, context.expires_at)

    def _call(self, method: str, *args: Any) -> Any:
        function: Callable[..., Any] = getattr(self.source, method)
        try:
            if inspect.iscoroutinefunction(function):
                return blockingCallFromThread(
                    self._reactor, lambda: Deferred.fromCoroutine(function(*args))
                )
            return function(*args)
        except HarperError:
            raise
        except Exception as error:
            self._log.failure("source {source!r} failed", source=self.source)
            raise SourceError(f"the source failed: {type(error).__name__}") from error
