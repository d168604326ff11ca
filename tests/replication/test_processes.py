# -*- test-case-name: tests.replication.test_processes -*-
"""
Acceptance tests of replication between nodes that are separate C{twistd -n harper}
processes on loopback, each with its own FileStorage, the kennel application and the same
cluster user: writes reach every node (and its MQTT subscribers), a stopped node catches up,
concurrent writes converge, patches of different attributes on different nodes both survive,
and links cut mid-stream (through forwarders in the test process) lose nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterator

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.protocols import portforward
from twisted.trial.unittest import TestCase

from tests.mqtt.helpers import V5, Client
from tests.service.helpers import (
    KENNEL_CONFIG,
    daemon_arguments,
    free_port,
    request_json,
    start_daemon,
    stop_process,
    wait_until_listening,
)

#: Seconds a replicated change may take to reach every node before a test fails.
CONVERGENCE = 60.0

#: The node names, in start order; each routes to the ones started before it.
NAMES = ("A", "B", "C")


def distinct_ports(count: int) -> Iterator[int]:
    """
    C{count} different TCP ports that nothing listens on at 127.0.0.1 now.
    """
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return iter(sorted(ports))


class Node:
    """
    One harper node of the test cluster: its folder, ports and (while running) process.

    :ivar name: the node's C{replication.hostname}.
    :ivar root: its data folder.
    :ivar http_port: the REST port.
    :ivar replication_port: the port its replication listener binds.
    :ivar operations_port: the operations API port.
    :ivar mqtt_port: the MQTT port.
    :ivar url: the URL peers reach that listener at (directly, or through a L{LinkCutter}).
    :ivar routes: the replication URLs of the nodes it pulls from.
    :ivar process: the running daemon, or C{None}.
    """

    def __init__(self, case: TestCase, name: str, ports: Iterator[int]) -> None:
        self.name = name
        self.root = os.path.abspath(case.mktemp())
        self.http_port = next(ports)
        self.replication_port = next(ports)
        self.operations_port = next(ports)
        self.mqtt_port = next(ports)
        self.url = f"ws://127.0.0.1:{self.replication_port}"
        self.routes: list[str] = []
        self.process: Any = None

    def record(self, key: str) -> str:
        """
        The REST URL of the Dog record C{key} on this node.
        """
        return f"http://127.0.0.1:{self.http_port}/Dog/{key}"

    def arguments(self) -> list[str]:
        """
        The C{twistd} arguments of this node.
        """
        return daemon_arguments(
            self.root,
            self.http_port,
            "--config", KENNEL_CONFIG,
            "--set", f"operationsApi.port={self.operations_port}",
            "--set", f"mqtt.port={self.mqtt_port}",
            "--set", f"replication.hostname={self.name}",
            "--set", f"replication.port={self.replication_port}",
            "--set", f"replication.url={self.url}",
            "--set", f"replication.routes={json.dumps(self.routes)}",
            "--set", "replication.username=cluster",
            "--set", "replication.password=kennel-secret",
        )

    @inlineCallbacks
    def start(self, case: TestCase) -> Any:
        """
        Start this node's daemon and wait until all its ports listen.
        """
        self.process = start_daemon(case, self.arguments())
        yield wait_until_listening(self.process, self.http_port)
        for port in (self.replication_port, self.operations_port, self.mqtt_port):
            yield wait_until_listening(self.process, port)

    @inlineCallbacks
    def stop(self) -> Any:
        """
        Stop this node's daemon with SIGTERM and wait for it to exit.
        """
        yield stop_process(self.process)
        self.process = None

    @inlineCallbacks
    def add_super_user(self, username: str, password: str) -> Any:
        """
        Create a super user on this node through its operations API (users do not
        replicate).
        """
        status, answer = yield request_json(
            "POST",
            f"http://127.0.0.1:{self.operations_port}/",
            {
                "operation": "add_user",
                "role": "super_user",
                "username": username,
                "password": password,
            },
        )
        if status != 200:
            raise AssertionError(f"add_user on {self.name} answered {status}: {answer}")


@inlineCallbacks
def eventually(check: Callable[[], Any], describe: Callable[[], str]) -> Any:
    """
    Call C{check} (which returns a Deferred of a boolean) every 100 ms until it fires with
    C{True}; fail with C{describe()} after L{CONVERGENCE} seconds.
    """
    deadline = reactor.seconds() + CONVERGENCE
    while not (yield check()):
        if reactor.seconds() > deadline:
            raise AssertionError(f"not converged after {CONVERGENCE} s: {describe()}")
        yield deferLater(reactor, 0.1, lambda: None)

class LinkCutter:
    """
    TCP forwarders, one per node, that peers reach its replication listener through, so
    that the test can close every link between the nodes.
    """

    def __init__(self) -> None:
        self.links: set[_CuttableLink] = set()
        self._ports: list[Any] = []

    def forward(self, node: Node, port: int) -> None:
        """
        Listen on loopback C{port}, forwarding to C{node}'s replication port, and make it the
        URL peers reach C{node} at.
        """
        factory = portforward.ProxyFactory("127.0.0.1", node.replication_port)
        factory.protocol = _CuttableLink
        factory.links = self.links  # type: ignore[attr-defined]
        self._ports.append(reactor.listenTCP(port, factory, interface="127.0.0.1"))
        node.url = f"ws://127.0.0.1:{port}"

    def cut(self) -> int:
        """
        Abort every open link; return how many there were.
        """
        links = list(self.links)
        for link in links:
            link.transport.abortConnection()
        return len(links)

    def close(self) -> Any:
        """
        Stop forwarding and close every link.
        """
        self.cut()
        return gatherResults([port.stopListening() for port in self._ports])


class _CuttableLink(portforward.ProxyServer):
    """
    The accepted side of one forwarded connection, known to its L{LinkCutter} while open.
    """

    def connectionMade(self) -> None:
        self.factory.links.add(self)
        super().connectionMade()

    def connectionLost(self, reason: Any) -> None:
        self.factory.links.discard(self)
        super().connectionLost(reason)


class ClusterTestCase(TestCase):
    """
    Start three kennel nodes replicating to each other (B pulls from A, C from A and B) and
    talk to them over REST.

    :cvar cuttable: whether peers reach each other through a L{LinkCutter}
        (C{self.cutter}).
    """

    timeout = 120
    cuttable = False

    @inlineCallbacks
    def setUp(self) -> Any:
        ports = distinct_ports(5 * len(NAMES))
        self.nodes = [Node(self, name, ports) for name in NAMES]
        if self.cuttable:
            self.cutter = LinkCutter()
            self.addCleanup(self.cutter.close)
            for node in self.nodes:
                self.cutter.forward(node, next(ports))
        for index, node in enumerate(self.nodes):
            node.routes = [peer.url for peer in self.nodes[:index]]
        yield gatherResults([node.start(self) for node in self.nodes])
        self.a, self.b, self.c = self.nodes

    @inlineCallbacks
    def put(self, node: Node, key: str, body: dict[str, Any]) -> Any:
        """
        PUT C{body} as Dog C{key} on C{node}; fail unless it succeeds.
        """
        status, answer = yield request_json("PUT", node.record(key), {"id": key, **body})
        self.assertLess(status, 300, answer)

    @inlineCallbacks
    def patch(self, node: Node, key: str, body: dict[str, Any]) -> Any:
        """
        PATCH Dog C{key} on C{node} with C{body}; fail unless it succeeds.
        """
        status, answer = yield request_json("PATCH", node.record(key), body)
        self.assertLess(status, 300, answer)

    @inlineCallbacks
    def read(self, node: Node, key: str) -> Any:
        """
        Dog C{key} as read on C{node}, or C{None} when it does not exist there.
        """
        status, body = yield request_json("GET", node.record(key))
        return body if status == 200 else None

    @inlineCallbacks
    def read_all(self, key: str) -> Any:
        """
        Dog C{key} as read on every node.
        """
        return (yield gatherResults([self.read(node, key) for node in self.nodes]))

    @inlineCallbacks
    def converge(self, key: str, expected: Callable[[Any], bool]) -> Any:
        """
        Wait until Dog C{key} reads the same on every node and satisfies C{expected}; fire
        with that record.
        """
        seen: list[Any] = []

        @inlineCallbacks
        def check() -> Any:
            seen[:] = yield self.read_all(key)
            first = seen[0]
            return first is not None and expected(first) and all(r == first for r in seen)

        yield eventually(check, lambda: repr(seen))
        return seen[0]


class ThreeNodeTests(ClusterTestCase):
    """
    Writes, restarts, concurrent writes and patches on three nodes.
    """

    @inlineCallbacks
    def test_write_reaches_every_node(self) -> Any:
        """
        A record PUT on one node becomes readable on the two others.
        """
        yield self.put(self.a, "rex", {"name": "Rex", "age": 3})
        record = yield self.converge("rex", lambda r: r["name"] == "Rex")
        self.assertEqual(record["age"], 3)
        yield self.put(self.c, "fido", {"name": "Fido"})
        yield self.converge("fido", lambda r: r["name"] == "Fido")

    @inlineCallbacks
    def test_stopped_node_catches_up(self) -> Any:
        """
        Writes made on A and B while C is stopped reach C once it is started again.
        """
        yield self.c.stop()
        yield self.put(self.a, "while-a", {"name": "Written on A"})
        yield self.put(self.b, "while-b", {"name": "Written on B"})
        yield self.c.start(self)
        yield self.converge("while-a", lambda r: r["name"] == "Written on A")
        yield self.converge("while-b", lambda r: r["name"] == "Written on B")

    @inlineCallbacks
    def test_concurrent_writes_converge(self) -> Any:
        """
        The same record PUT at the same time on A and B ends with one of the two values, the
        same on all three nodes.
        """
        for attempt in range(5):
            key = f"contested-{attempt}"
            yield gatherResults(
                [
                    self.put(self.a, key, {"name": f"A{attempt}"}),
                    self.put(self.b, key, {"name": f"B{attempt}"}),
                ]
            )
            record = yield self.converge(key, lambda r: True)
            self.assertIn(record["name"], (f"A{attempt}", f"B{attempt}"))

    @inlineCallbacks
    def test_patches_of_different_attributes_survive(self) -> Any:
        """
        PATCHes of different attributes of one record on A and on B are both kept on every
        node.
        """
        yield self.put(self.a, "patched", {"name": "Patchy", "age": 1, "weight": 1.0})
        yield self.converge("patched", lambda r: r["name"] == "Patchy")
        yield gatherResults(
            [
                self.patch(self.a, "patched", {"age": 9}),
                self.patch(self.b, "patched", {"weight": 22.5}),
            ]
        )
        record = yield self.converge(
            "patched", lambda r: r["age"] == 9 and r["weight"] == 22.5
        )
        self.assertEqual(record["name"], "Patchy")

    @inlineCallbacks
    def test_mqtt_subscriber_receives_remote_write(self) -> Any:
        """
        An MQTT subscriber to a Dog record on C receives a write of that record made on A.
        """
        yield self.c.add_super_user("watcher", "watcher-secret")
        subscriber = Client(self, self.c.mqtt_port, "watcher", V5, "watcher", "watcher-secret")
        yield subscriber.connect()
        yield subscriber.subscribe("Dog/watched")
        yield self.put(self.a, "watched", {"name": "Seen on C"})
        messages = yield subscriber.wait_for(1, timeout=CONVERGENCE)
        topic, payload = messages[-1][:2]
        self.assertEqual(topic, "Dog/watched")
        self.assertEqual(json.loads(payload)["name"], "Seen on C")


class CutLinkTests(ClusterTestCase):
    """
    Links between nodes closed mid-stream while writes continue.
    """

    cuttable = True

    @inlineCallbacks
    def digest(self, node: Node) -> Any:
        """
        Every Dog record of C{node}, as sorted JSON.
        """
        status, records = yield request_json("GET", f"http://127.0.0.1:{node.http_port}/Dog/")
        self.assertEqual(status, 200, records)
        return json.dumps(sorted(records, key=lambda r: r["id"]), sort_keys=True)

    @inlineCallbacks
    def write_continuously(self, count: int) -> Any:
        """
        PUT C{count} times, on each node in turn, to the records C{cut-0} to
        C{cut-<count/2 - 1>}: each record is written twice, on two different nodes when
        C{count/2} is not a multiple of the number of nodes.
        """
        for index in range(count):
            node = self.nodes[index % len(self.nodes)]
            yield self.put(node, f"cut-{index % (count // 2)}", {"name": f"{node.name}{index}"})

    @inlineCallbacks
    def cut_repeatedly(self, times: int) -> Any:
        """
        Close every open link between the nodes C{times} times, waiting for at least one
        link to be open again before each cut; fire with the number of links closed.
        """
        closed = 0
        for _ in range(times):
            yield eventually(
                lambda: deferLater(reactor, 0.02, lambda: bool(self.cutter.links)),
                lambda: "no link between the nodes reopened",
            )
            closed += self.cutter.cut()
        return closed

    @inlineCallbacks
    def test_links_cut_mid_stream(self) -> Any:
        """
        After every link between the nodes was closed 20 times while writes went on, all
        nodes hold the same Dog records.

        The nodes first agree on their seed records (the base copies between them are done):
        cutting a base copy short can leave a node without seed records of a peer for good,
        a known fault of base copies and relayed entries that this test does not cover.
        """
        digests: list[Any] = []

        @inlineCallbacks
        def same() -> Any:
            digests[:] = yield gatherResults([self.digest(node) for node in self.nodes])
            return len(set(digests)) == 1

        yield eventually(same, lambda: "\n".join(digests))
        closed, _ = yield gatherResults([self.cut_repeatedly(20), self.write_continuously(100)])
        self.assertGreaterEqual(closed, 20)
        yield eventually(same, lambda: "\n".join(digests))
        ids = {record["id"] for record in json.loads(digests[0])}
        self.assertLessEqual({f"cut-{index}" for index in range(50)}, ids)
