"""
Tests for where reads run: on the reactor thread over storages in this process, on the worker
pool over storages that say their reads block (L{ResourceCaller} and L{Runtime}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.python.threadable import isInIOThread
from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.components.runtime import Runtime
from harper.resources.calls import Databases, ResourceCaller
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from tests.helpers import file_runner
from tests.storage.test_zeo import process_gone, short_root


class ThreadReporter:
    """
    A resource whose C{get} is in the read lane and answers whether it ran in the reactor
    thread, and in a read-only transaction.
    """

    def lane(self, method: str) -> str:
        return "read"

    def get(self, target: Any, context: RequestContext) -> tuple[bool, bool]:
        return isInIOThread(), context.transaction.read_only


class LaneTests(TestCase):
    """
    L{ResourceCaller.call} in the C{"read"} lane.
    """

    def call(self, blocking_reads: bool) -> Any:
        caller = ResourceCaller(file_runner(self), Databases(), None, blocking_reads)
        return caller.call("get", ThreadReporter(), RequestTarget.record(1), RequestContext())

    def test_reads_on_reactor_thread(self) -> None:
        """
        Without blocking reads, a read runs at once on the calling (reactor) thread, read-only.
        """
        self.assertEqual(self.successResultOf(self.call(False)), (True, True))

    def test_blocking_reads_on_pool(self) -> None:
        """
        With blocking reads, a read runs on a worker thread.
        """
        return self.call(True).addCallback(lambda result: self.assertFalse(result[0]))


class RuntimeTests(TestCase):
    """
    The runtime asks its storage whether reads block.
    """

    def runtime(self, uri: str) -> Runtime:
        root = short_root(self)
        config = config_from_string(f"storage: {{uri: '{uri}'}}", root=root, environ={})
        runtime = Runtime(config, [], reactor)
        runtime.start()
        return runtime

    def test_file_reads_on_reactor(self) -> None:
        """
        Over C{file:}, reads run on the reactor thread.
        """
        runtime = self.runtime("file:")
        self.addCleanup(runtime.stop)
        self.assertFalse(runtime.caller.blocking_reads)

    def test_zeo_reads_on_reactor(self) -> None:
        """
        Over C{zeo:}, reads run on the reactor thread too (from the client's caches), and
        stopping the runtime stops the ZEO server it started.
        """
        runtime = self.runtime("zeo:")
        server = runtime.db.storage.server
        pid = server.pid
        try:
            self.assertFalse(runtime.caller.blocking_reads)
        finally:
            runtime.stop()
        self.assertTrue(process_gone(pid))
