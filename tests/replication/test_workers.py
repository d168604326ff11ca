"""
Acceptance test of replication with worker processes: node A is a C{twistd -n harper} with two
workers (worker 0 replicates, both log their writes in the shared store), node B a single
process; writes made through either worker of A reach B, and a write on B is read through
both workers of A and reaches WebSocket and MQTT subscribers served by the worker of A that
does not replicate.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests.mqtt.helpers import V5, Client
from tests.replication.test_processes import CONVERGENCE, Node, distinct_ports, eventually
from tests.service.helpers import DEADLINE, request_json
from tests.workers.helpers import HAS_PROC, connection_to, send, serving_pid
from tests.workers.test_end_to_end import Subscriber

_SERVING = re.compile(rb"worker (\d+) \(pid (\d+)\) serving")


class WorkersNode(Node):
    """
    A node of the test cluster that runs two worker processes (its root is short: the ZEO
    server's unix socket lives in it).
    """

    def __init__(self, case: TestCase, name: str, ports: Any) -> None:
        super().__init__(case, name, ports)
        self.root = tempfile.mkdtemp(prefix="harper-rw-")
        case.addCleanup(shutil.rmtree, self.root, True)

    def arguments(self) -> list[str]:
        return [*super().arguments(), "--set", "threads.count=2"]

    @inlineCallbacks
    def workers(self) -> Any:
        """
        Fire with the pid of each worker by number once both serve.
        """
        deadline = reactor.seconds() + DEADLINE
        while True:
            found = {int(i): int(pid) for i, pid in _SERVING.findall(self.process.stdout)}
            if len(found) == 2:
                return found
            if reactor.seconds() > deadline or not self.process.running:
                raise AssertionError(f"two workers do not serve\n{self.process.output()}")
            yield deferLater(reactor, 0.05, lambda: None)


class ReplicatingWorkersTests(TestCase):
    """
    Node A with two workers and node B, each pulling from the other.
    """

    timeout = 120

    @inlineCallbacks
    def setUp(self) -> Any:
        if not HAS_PROC:
            raise SkipTest("finding the worker that serves a connection needs /proc")
        ports = distinct_ports(8)
        self.a = WorkersNode(self, "A", ports)
        self.b = Node(self, "B", ports)
        self.b.routes = [self.a.url]
        yield gatherResults([self.a.start(self), self.b.start(self)])
        self.pids = yield self.a.workers()
        self.addCleanup(self.a.stop)
        self.addCleanup(self.b.stop)

    def through(self, index: int, method: str, path: str, body: Any = None,
                headers: Optional[dict[str, str]] = None, operations: bool = False) -> Deferred:
        """
        Send a request to node A (its operations API when C{operations}, else REST) on a
        connection its worker C{index} accepted; fire with C{(status, body)}.
        """
        port = self.a.operations_port if operations else self.a.http_port

        def call() -> tuple[int, Any]:
            pids = list(self.pids.values())
            connection = connection_to(port, self.pids[index], pids)
            try:
                status, answer, _ = send(connection, method, path, body, headers)
            finally:
                connection.close()
            return status, answer

        return deferToThread(call)

    @inlineCallbacks
    def on_b(self, key: str) -> Any:
        """
        Dog C{key} read on B, or C{None}.
        """
        status, body = yield request_json("GET", self.b.record(key))
        return body if status == 200 else None

    @inlineCallbacks
    def test_writes_through_either_worker_reach_b(self) -> Any:
        """
        A record written through worker 0 (which replicates) and one written through worker 1
        (which only logs) both reach B.
        """
        for index in (0, 1):
            status, answer = yield self.through(index, "PUT", f"/Dog/w{index}", {"name": f"Rex{index}"})
            self.assertLess(status, 300, answer)
        for index in (0, 1):
            yield eventually(
                lambda index=index: self.on_b(f"w{index}").addCallback(
                    lambda body: bool(body) and body.get("name") == f"Rex{index}"),
                lambda: "Dog/w0 or Dog/w1 is not on B",
            )

    @inlineCallbacks
    def web_socket_on(self, pid: int, path: str) -> Any:
        """
        Fire with the factory of a WebSocket subscription to C{path} on A served by worker
        C{pid} (its C{messages} fill as events arrive).
        """
        pids = list(self.pids.values())
        for _ in range(100):
            factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.a.http_port}{path}")
            factory.protocol = Subscriber
            factory.messages, factory.opened = [], Deferred()
            connector = reactor.connectTCP("127.0.0.1", self.a.http_port, factory)
            self.addCleanup(connector.disconnect)
            client = yield factory.opened.addTimeout(DEADLINE, reactor)
            local = client.transport.getHost().port
            served = yield deferToThread(serving_pid, self.a.http_port, local, pids)
            if served == pid:
                return factory
            connector.disconnect()
        raise AssertionError(f"worker {pid} accepted none of 100 WebSocket connections")

    @inlineCallbacks
    def mqtt_on(self, pid: int) -> Any:
        """
        Fire with a connected paho client of A's super user C{watcher}, served by worker C{pid}.
        """
        pids = list(self.pids.values())
        for attempt in range(100):
            client = Client(self, self.a.mqtt_port, f"watcher-{attempt}", V5, "watcher",
                            "watcher-secret")
            yield client.connect()
            local = client.client.socket().getsockname()[1]
            served = yield deferToThread(serving_pid, self.a.mqtt_port, local, pids)
            if served == pid:
                return client
            yield client.disconnect()
        raise AssertionError(f"worker {pid} accepted none of 100 MQTT connections")

    @inlineCallbacks
    def test_write_on_b_reaches_both_workers_and_subscribers(self) -> Any:
        """
        A write on B is applied by worker 0 of A; it is read through both workers, and the
        WebSocket and MQTT subscribers served by worker 1 receive it (relayed by the bus).
        """
        yield self.a.add_super_user("watcher", "watcher-secret")
        web_socket = yield self.web_socket_on(self.pids[1], "/Dog/fromb")
        mqtt = yield self.mqtt_on(self.pids[1])
        yield mqtt.subscribe("Dog/fromb")
        status, answer = yield request_json("PUT", self.b.record("fromb"),
                                            {"id": "fromb", "name": "Bea"})
        self.assertLess(status, 300, answer)
        messages = yield mqtt.wait_for(1, timeout=CONVERGENCE)
        self.assertEqual((messages[0][0], json.loads(messages[0][1])["name"]), ("Dog/fromb", "Bea"))
        deadline = reactor.seconds() + CONVERGENCE
        while not web_socket.messages:
            self.assertLess(reactor.seconds(), deadline, "the WebSocket subscriber got nothing")
            yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(web_socket.messages[0][1]["value"]["name"], "Bea")
        for index in (0, 1):
            status, record = yield self.through(index, "GET", "/Dog/fromb")
            self.assertEqual((status, record["name"]), (200, "Bea"))

    @inlineCallbacks
    def test_cluster_operations_through_either_worker(self) -> Any:
        """
        The worker that does not replicate passes the cluster operations and C{X-Replicate-To}
        to the one that does: both answer C{cluster_status} for node A, a write with
        C{X-Replicate-To: B} is answered once B has it, and a name that is not a peer is
        refused with 400.
        """
        for index in (0, 1):
            status, answer = yield self.through(index, "POST", "/", {"operation": "cluster_status"},
                                                operations=True)
            self.assertEqual((status, answer["node_name"], answer["is_enabled"]), (200, "A", True),
                             answer)
        # B dials A: A knows B as a peer once that connection is up.
        status_of_a: list[Any] = []

        def b_connected() -> Deferred:
            def known(result: tuple[int, Any]) -> bool:
                status_of_a[:] = [result]
                return any(each.get("name") == "B" and each.get("connected")
                           for each in result[1].get("connections", ()))

            return self.through(0, "POST", "/", {"operation": "cluster_status"},
                                operations=True).addCallback(known)

        yield eventually(b_connected, lambda: f"B never connected to A: {status_of_a}")
        status, answer = yield self.through(1, "PUT", "/Dog/confirmed", {"name": "Sure"},
                                            headers={"X-Replicate-To": "B"})
        self.assertLess(status, 300, answer)
        self.assertEqual((yield self.on_b("confirmed"))["name"], "Sure")
        status, answer = yield self.through(1, "PUT", "/Dog/stranger", {"name": "Who"},
                                            headers={"X-Replicate-To": "Z"})
        self.assertEqual(status, 400)
        self.assertIn("'Z' is not a peer of A", answer["error"])
