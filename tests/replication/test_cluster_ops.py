"""
The cluster operations over a real operations API socket, and C{X-Replicate-To} on REST
writes, with nodes in this process linked by real WebSocket connections on loopback.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Optional

import attr
import treq
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import HTTPConnectionPool

from harper.components.config import config_from_string
from harper.errors import ConfigError, InvalidInput
from harper.http.rest import RestAPI
from harper.http.site import make_site
from harper.operations import cluster_ops
from harper.operations.api import OperationsAPI, default_operations
from harper.operations.scope import OperationScope
from harper.replication.confirm import ReplicateTo, parse_replicate_to
from harper.replication.nodes import routes_at_start
from harper.replication.settings import Route, parse_route
from tests.auth.helpers import fast_passwords
from tests.operations.helpers import ADMIN, basic
from tests.replication.helpers import Node, connected, eventually, partition

_ADMIN = basic(*ADMIN)


class Served:
    """
    A L{Node}'s operations API and REST interface on loopback ports, with a super user.
    """

    def __init__(self, case: TestCase, node: Node) -> None:
        self.case = case
        self.node = node
        self.pool = HTTPConnectionPool(reactor, persistent=False)

    @inlineCallbacks
    def start(self, replicating: bool = True) -> Any:
        """
        Listen; without C{replicating}, the APIs act as on a node that does not replicate.
        """
        runtime = self.node.runtime
        cluster = self.node.cluster if replicating else None
        runtime.access.users.passwords = fast_passwords()
        if not (yield runtime.access.users.get_user(ADMIN[0])):
            yield runtime.access.users.add_user(*ADMIN, "super_user")
        scope = attr.evolve(OperationScope.of_runtime(runtime, reactor), cluster=cluster)
        api = OperationsAPI(scope, default_operations(), 1 << 20)
        rest = RestAPI(
            runtime.registry, runtime.caller, 1 << 20,
            authenticate=runtime.access.authenticator.authenticate, reactor=reactor,
            confirm_replication=cluster.confirmation if cluster else None,
        )
        ports = [reactor.listenTCP(0, make_site(site), interface="127.0.0.1")
                 for site in (api.resource(), rest)]
        for port in ports:
            self.case.addCleanup(port.stopListening)
        self.operations_url, self.rest_url = (
            f"http://127.0.0.1:{port.getHost().port}/" for port in ports
        )

    async def operation(self, body: dict, status: int = 200, user: str = _ADMIN) -> Any:
        """
        Run an operation; check the answer's status and return its JSON.
        """
        response = await treq.post(
            self.operations_url, data=json.dumps(body).encode(), pool=self.pool,
            headers={"Content-Type": ["application/json"], "Authorization": [user]},
        )
        content = json.loads(await treq.content(response))
        self.case.assertEqual(response.code, status, content)
        return content

    async def put(self, path: str, record: dict, replicate_to: Optional[str] = None) -> Any:
        """
        PUT C{record} at C{path} over REST; the response (its body read).
        """
        headers = {"Content-Type": ["application/json"], "Authorization": [_ADMIN]}
        if replicate_to is not None:
            headers["X-Replicate-To"] = [replicate_to]
        response = await treq.put(self.rest_url + path, data=json.dumps(record).encode(),
                                  headers=headers, pool=self.pool)
        response.text_body = (await treq.content(response)).decode()
        return response


@inlineCallbacks
def served_node(case: TestCase, name: str, routes: tuple = (), **settings: Any) -> Any:
    """
    Start node C{name} (routes to C{routes}) with its APIs; return its L{Served}.
    """
    node = Node(case, name, **settings)
    yield node.start(routes)
    served = Served(case, node)
    yield served.start()
    return served


class ClusterOperationTests(TestCase):
    """
    Two nodes that do not know each other until an operation links them.
    """

    @inlineCallbacks
    def setUp(self) -> Any:
        self.a = yield served_node(self, "node-a")
        self.b = yield served_node(self, "node-b")

    async def test_add_node_replicates(self) -> None:
        """
        C{add_node} with a URL links the nodes in both directions; C{cluster_status} then
        reports the peer, connected, with its position, lag and database sockets.
        """
        answer = await self.b.operation({"operation": "add_node", "url": self.a.node.url})
        self.assertEqual(answer, {"message": f"Successfully added '{self.a.node.url}' to cluster"})
        await eventually(connected(self.a.node, self.b.node))
        await self.a.node.tables.Dog.put("rex", {"name": "Rex"})
        await eventually(lambda: self.b.node.record("rex") is not None)
        status = await self.b.operation({"operation": "cluster_status"})
        self.assertEqual((status["type"], status["node_name"], status["is_enabled"]),
                         ("cluster-status", "node-b", True))
        [connection] = status["connections"]
        self.assertEqual(connection["name"], "node-a")
        self.assertEqual(connection["replicates"], {"sends": True, "receives": True})
        self.assertTrue(connection["connected"])
        self.assertEqual(connection["lag"], 0)
        self.assertEqual(connection["position"], 1)
        [socket] = connection["database_sockets"]
        self.assertEqual(socket["database"], "data")
        self.assertLessEqual(socket["lastReceivedRemoteTime"], socket["lastReceivedLocalTime"])
        status = await self.a.operation({"operation": "cluster_status"})
        self.assertIsNotNone(status["connections"][0]["lastCommitConfirmed"])

    async def test_routes_survive_a_restart(self) -> None:
        """
        A node added at run time is linked again after a restart; a removed one stays removed.
        """
        await self.b.operation({"operation": "add_node", "url": self.a.node.url})
        await eventually(connected(self.a.node, self.b.node))
        await self.b.node.stop()
        await self.b.node.start()
        await Served(self, self.b.node).start()
        await eventually(connected(self.a.node, self.b.node))
        self.assertEqual([r.url for r in self.b.node.cluster.routes()], [self.a.node.url])
        await self.b.node.cluster.remove_node("node-a")
        await self.b.node.cluster.saving()
        await self.b.node.stop()
        await self.b.node.start()
        self.assertEqual(self.b.node.cluster.routes(), [])
        self.assertIn("node-a", self.b.node.cluster._removed)

    async def test_update_and_remove_node(self) -> None:
        """
        C{update_node} changes the direction of a route by the peer's name; C{remove_node}
        by name ends it.
        """
        await self.b.operation({"operation": "add_node", "url": self.a.node.url})
        await eventually(connected(self.a.node, self.b.node))
        answer = await self.b.operation({
            "operation": "update_node", "hostname": "node-a",
            "replicates": {"sends": True, "receives": False},
        })
        self.assertEqual(answer, {"message": "Successfully updated 'node-a'"})
        self.assertEqual(self.b.node.cluster.links(), [])
        answer = await self.b.operation({"operation": "remove_node", "hostname": "node-a"})
        self.assertEqual(answer, {"message": "Successfully removed 'node-a' from cluster"})
        self.assertEqual(await self.b.operation({"operation": "cluster_get_routes"}), [])

    async def test_routes_operations(self) -> None:
        """
        C{cluster_set_routes} adds routes and skips known ones, C{cluster_get_routes} lists
        them and C{cluster_delete_routes} removes them, skipping unknown ones.
        """
        host, port = "127.0.0.1", self.a.node.port
        routes = [self.a.node.url, {"hostname": host, "port": port}]
        answer = await self.b.operation({"operation": "cluster_set_routes", "routes": routes})
        self.assertEqual(answer, {"message": "cluster routes successfully set",
                                  "set": [self.a.node.url], "skipped": [routes[1]]})
        self.assertEqual(await self.b.operation({"operation": "cluster_get_routes"}),
                         [self.a.node.url])
        answer = await self.b.operation({"operation": "cluster_delete_routes",
                                         "routes": [routes[1], "ws://127.0.0.1:1"]})
        self.assertEqual(answer, {"message": "cluster routes successfully deleted",
                                  "deleted": [routes[1]], "skipped": ["ws://127.0.0.1:1"]})
        self.assertEqual(self.b.node.cluster.routes(), [])

    async def test_bad_fields(self) -> None:
        """
        Missing, unknown, unsupported and malformed fields are refused with 400 naming the
        field; an unknown node is 404; only super users manage the cluster.
        """
        cases = [
            ({"operation": "add_node"}, "hostname: required"),
            ({"operation": "add_node", "url": "http://x:1"}, "url: "),
            ({"operation": "add_node", "hostname": "x", "port": 70000}, "port: "),
            ({"operation": "add_node", "hostname": "x", "colour": 1}, "colour: "),
            ({"operation": "add_node", "hostname": "x", "subscriptions": []}, "subscriptions: "),
            ({"operation": "add_node", "hostname": "x", "replicates": {"sends": 1}},
             "replicates.sends: "),
            ({"operation": "cluster_set_routes", "routes": [7]}, "routes[0]: "),
            ({"operation": "cluster_set_routes"}, "routes: required"),
            ({"operation": "cluster_status", "verbose": True}, "verbose: "),
        ]
        for body, start in cases:
            answer = await self.b.operation(body, 400)
            self.assertTrue(answer["error"].startswith(start), (body, answer))
        await self.b.operation({"operation": "remove_node", "hostname": "node-z"}, 404)
        await self.b.node.runtime.access.users.add_role("nobody", {})
        await self.b.node.runtime.access.users.add_user("reader", "reader-password", "nobody")
        await self.b.operation({"operation": "cluster_status"}, 403, basic("reader", "reader-password"))
        self.assertEqual(self.b.node.cluster.routes(), [])


class StandaloneTests(TestCase):
    """
    A node without replication.
    """

    async def test_cluster_status_disabled(self) -> None:
        """
        C{cluster_status} says replication is off; C{add_node} is refused with 400.
        """
        node = Node(self, "node-a")
        await node.start()
        served = Served(self, node)
        await served.start(replicating=False)
        status = await served.operation({"operation": "cluster_status"})
        self.assertEqual(status, {"type": "cluster-status", "connections": [],
                                  "node_name": None, "is_enabled": False})
        answer = await served.operation({"operation": "add_node", "hostname": "x"}, 400)
        self.assertIn("does not replicate", answer["error"])
        response = await served.put("Dog/rex", {"name": "Rex"}, "1")
        self.assertEqual(response.code, 400)
        self.assertIn("this node does not replicate", response.text_body)


class ReplicateToTests(TestCase):
    """
    C{X-Replicate-To} on REST writes, three nodes (B and C route to A).
    """

    @inlineCallbacks
    def setUp(self) -> Any:
        self.a = yield served_node(self, "node-a", confirmation_timeout=1.0)
        self.b = yield served_node(self, "node-b", (self.a.node,))
        self.c = yield served_node(self, "node-c", (self.a.node,))
        yield eventually(connected(self.a.node, self.b.node))
        yield eventually(connected(self.a.node, self.c.node))

    async def test_count(self) -> None:
        """
        With C{X-Replicate-To: 2} the answer comes once both peers applied the write: it is
        readable on them at that moment.
        """
        response = await self.a.put("Dog/rex", {"name": "Rex"}, "2")
        self.assertEqual(response.code, 204, response.text_body)
        self.assertEqual(self.b.node.record("rex")["name"], "Rex")
        self.assertEqual(self.c.node.record("rex")["name"], "Rex")

    async def test_named_nodes(self) -> None:
        """
        Named nodes must confirm; C{confirm=1} waits for one of them only.
        """
        response = await self.a.put("Dog/rex", {"name": "Rex"}, "node-c")
        self.assertEqual(response.code, 204, response.text_body)
        self.assertEqual(self.c.node.record("rex")["name"], "Rex")
        response = await self.a.put("Dog/fido", {"name": "Fido"}, "node-b, node-c;confirm=1")
        self.assertEqual(response.code, 204, response.text_body)
        self.assertTrue(self.b.node.record("fido") or self.c.node.record("fido"))

    async def test_timeout(self) -> None:
        """
        When a named peer is cut off, the write is committed locally but the answer is 504
        after the timeout, saying how many peers confirmed.
        """
        partition(self.a.node, self.c.node)
        response = await self.a.put("Dog/rex", {"name": "Rex"}, "node-b, node-c")
        self.assertEqual(response.code, 504)
        self.assertIn("1 of 2 peer confirmations within 1 s (confirmed: node-b)", response.text_body)
        self.assertEqual(self.a.node.record("rex")["name"], "Rex")

    async def test_bad_header(self) -> None:
        """
        A malformed header or an unknown node is refused with 400 before anything is written.
        """
        for header in ("x;confirm=lots", "node-q", "2;wait=1", "*, node-b"):
            response = await self.a.put("Dog/rex", {"name": "Rex"}, header)
            self.assertEqual(response.code, 400, header)
            self.assertIn("X-Replicate-To", response.text_body)
        self.assertIsNone(self.a.node.record("rex"))


class DocumentationTests(SynchronousTestCase):
    """
    docs/clustering.md.
    """

    def test_every_cluster_operation_documented(self) -> None:
        """
        The operations table of docs/clustering.md lists every cluster operation.
        """
        path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "clustering.md")
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        table = text.split("### At run time: the operations API", 1)[1].split("\n### ", 1)[0]
        documented = set(re.findall(r"^\| `(\w+)`(?: \(alias `(\w+)`\))?", table, re.MULTILINE))
        names = {name for pair in documented for name in pair if name}
        self.assertEqual(names, set(cluster_ops.operations.names()))


class ParseTests(SynchronousTestCase):
    """
    L{parse_replicate_to} and L{routes_at_start}.
    """

    def test_forms(self) -> None:
        """
        A count, C{*} and names, each with C{confirm}.
        """
        self.assertEqual(parse_replicate_to("2"), ReplicateTo(None, 2))
        self.assertEqual(parse_replicate_to("3;confirm=1"), ReplicateTo(None, 1))
        self.assertEqual(parse_replicate_to("*"), ReplicateTo(None, None))
        self.assertEqual(parse_replicate_to(" a , b;confirm=1"), ReplicateTo(("a", "b"), 1))
        for bad in ("", "a;confirm=3", "1, 2", "a;confirm=-1"):
            self.assertRaises(InvalidInput, parse_replicate_to, bad)

    def test_routes_at_start(self) -> None:
        """
        Stored changes replace, add and remove configured routes.
        """
        configured = [Route("ws://a:1"), Route("ws://b:1")]
        changes = {
            "ws://a:1": {"removed": True, "name": "node-a"},
            "ws://b:1": {"name": "node-b", "sends": False, "receives": True},
            "ws://c:1": {"name": None, "sends": True, "receives": True},
        }
        routes, removed = routes_at_start(configured, changes)
        self.assertEqual(routes, [Route("ws://b:1", "node-b", False, True), Route("ws://c:1")])
        self.assertEqual(removed, {"ws://a:1", "node-a"})

    def test_host_routes(self) -> None:
        """
        A route naming a host only is C{wss://} on port 9933 unless it gives one; a mapping
        may say C{host} for C{hostname}.
        """
        self.assertEqual(parse_route("server-two").url, "wss://server-two:9933")
        self.assertEqual(parse_route("server-two:9100").url, "wss://server-two:9100")
        self.assertEqual(parse_route({"host": "b", "port": 1}).url, "ws://b:1")

    def test_config_checks(self) -> None:
        """
        C{replication.url} must be a WebSocket URL and C{replication.hostname} a host name;
        the error names the key.
        """
        for text, key in (("replication: {url: 'http://a:1'}", "replication.url"),
                          ("replication: {url: 'ws://a:x'}", "replication.url"),
                          ("replication: {hostname: 'node a'}", "replication.hostname")):
            error = self.assertRaises(ConfigError, config_from_string, text, environ={})
            self.assertIn(key, str(error))
        config = config_from_string("replication: {hostname: node-a, url: 'wss://a:9933'}",
                                    environ={})
        self.assertEqual(config.replication.url, "wss://a:9933")
