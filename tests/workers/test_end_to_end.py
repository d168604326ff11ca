"""
End-to-end tests of worker processes: a real C{twistd harper} with C{threads.count: 2} on
loopback ports, requests sent to the worker each test chooses (found through C{/proc}).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests.service.helpers import (
    DEADLINE, daemon_arguments, free_port, start_daemon, wait_until_listening, write_tree,
)
from tests.workers.helpers import HAS_PROC, connection_to, send, serving_pid, wait_for_workers

APPLICATION = {
    "schema.graphql": "type Dog @table @export {\n  id: ID @primaryKey\n  name: String!\n  age: Int\n}\n",
    "config.yaml": "rest: true\ngraphqlSchema: {files: '*.graphql'}\n",
}



class Subscriber(WebSocketClientProtocol):
    """
    A WebSocket client that keeps every message with the C{time.monotonic()} it arrived at.
    """

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.messages.append((time.monotonic(), json.loads(payload)))


class TwoWorkersTests(TestCase):
    """
    A daemon with two worker processes sharing the HTTP port and a FileStorage served by ZEO.
    """

    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        if not HAS_PROC:
            raise SkipTest("finding the worker that serves a connection needs /proc")
        self.port = free_port()
        # A short root: the ZEO server's unix socket lives in it (at most 107 bytes).
        root = tempfile.mkdtemp(prefix="harper-workers-")
        self.addCleanup(shutil.rmtree, root, True)
        arguments = daemon_arguments(
            root, self.port,
            "--app", write_tree(self, APPLICATION), "--set", "threads.count=2",
        )
        self.daemon = start_daemon(self, arguments)
        yield wait_until_listening(self.daemon, self.port)
        self.workers = yield wait_for_workers(self.daemon, 2)

    def connect(self, pid: int) -> Deferred:
        """
        Fire with a persistent HTTP connection accepted by worker C{pid}.
        """
        d = deferToThread(connection_to, self.port, pid, list(self.workers.values()))
        return d.addCallback(lambda connection: (self.addCleanup(connection.close), connection)[1])

    def request(self, connection: Any, method: str, path: str, body: Any = None) -> Deferred:
        """
        Send a request on C{connection}; fire with C{(status, body, arrival time)}.
        """
        return deferToThread(send, connection, method, path, body)

    @inlineCallbacks
    def subscribe(self, path: str, pid: int) -> Any:
        """
        Fire with the factory of a WebSocket subscription to C{path} served by worker C{pid}
        (its C{messages} fill as events arrive).
        """
        for _ in range(200):
            factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.port}{path}")
            factory.protocol = Subscriber
            factory.messages, factory.opened = [], Deferred()
            connector = reactor.connectTCP("127.0.0.1", self.port, factory)
            self.addCleanup(connector.disconnect)
            client = yield factory.opened.addTimeout(DEADLINE, reactor)
            local = client.transport.getHost().port
            server = yield deferToThread(serving_pid, self.port, local, list(self.workers.values()))
            if server == pid:
                return factory
            connector.disconnect()
        raise AssertionError(f"worker {pid} accepted none of 200 WebSocket connections")

    @inlineCallbacks
    def next_message(self, factory: Any, count: int) -> Any:
        """
        Fire with the C{count}th message of C{factory} (arrival time, event).
        """
        deadline = reactor.seconds() + DEADLINE
        while len(factory.messages) < count:
            if reactor.seconds() > deadline:
                raise AssertionError(f"message {count} never came: {factory.messages}")
            yield deferLater(reactor, 0.005, lambda: None)
        return factory.messages[count - 1]

    @inlineCallbacks
    def test_write_through_one_read_through_other(self) -> Any:
        """
        A record written through one worker is read through the other one, and a change made
        through the second is seen by the first.
        """
        first = yield self.connect(self.workers[0])
        second = yield self.connect(self.workers[1])
        status, _, _ = yield self.request(second, "PUT", "/Dog/rex", {"name": "Rex", "age": 3})
        self.assertEqual(status, 204)
        status, record, _ = yield self.request(first, "GET", "/Dog/rex")
        self.assertEqual((status, record), (200, {"id": "rex", "name": "Rex", "age": 3}))
        yield self.request(first, "PATCH", "/Dog/rex", {"age": 4})
        _, record, _ = yield self.request(second, "GET", "/Dog/rex")
        self.assertEqual(record["age"], 4)

    @inlineCallbacks
    def test_subscriber_gets_other_workers_writes(self) -> Any:
        """
        A WebSocket subscriber connected to one worker receives a write made through the other
        within 100 ms, once, with the new value.
        """
        writer = yield self.connect(self.workers[1])
        yield self.request(writer, "PUT", "/Dog/ada", {"name": "Ada"})
        factory = yield self.subscribe("/Dog/ada", self.workers[0])
        yield self.next_message(factory, 1)
        _, _, written = yield self.request(writer, "PUT", "/Dog/ada", {"name": "Ada", "age": 2})
        arrived, event = yield self.next_message(factory, 2)
        self.assertEqual((event["type"], event["value"]["age"]), ("put", 2))
        self.assertLess(arrived - written, 0.1)
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(len(factory.messages), 2)

    @inlineCallbacks
    def test_killed_worker_is_restarted(self) -> Any:
        """
        A worker killed with SIGKILL is replaced by a new process; the other worker goes on
        serving its open connections meanwhile, and the new one reads the store and gets the
        other worker's events.
        """
        survivor = yield self.connect(self.workers[1])
        os.kill(self.workers[0], signal.SIGKILL)
        status, _, _ = yield self.request(survivor, "PUT", "/Dog/max", {"name": "Max"})
        self.assertEqual(status, 204)
        self.workers = yield wait_for_workers(self.daemon, 2, gone=(self.workers[0],))
        replacement = yield self.connect(self.workers[0])
        _, record, _ = yield self.request(replacement, "GET", "/Dog/max")
        self.assertEqual(record, {"id": "max", "name": "Max"})
        factory = yield self.subscribe("/Dog/max", self.workers[0])
        yield self.next_message(factory, 1)
        yield self.request(survivor, "DELETE", "/Dog/max")
        _, event = yield self.next_message(factory, 2)
        self.assertEqual(event["type"], "delete")
