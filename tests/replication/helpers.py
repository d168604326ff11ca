"""
Harper nodes in the test process: each a started L{Runtime} on its own FileStorage in a
temporary folder, with a L{ReplicationCluster} listening on a free loopback port.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from harper.components.application import Application
from harper.components.config import config_from_string
from harper.components.runtime import ApplicationTables, Runtime
from harper.replication.cluster import ReplicationCluster
from harper.replication.recorder import ServedTables
from harper.replication.replica import Replica
from harper.replication.settings import ClusterSettings, Route
from harper.schema.sdl import parse_schema
from tests.helpers import create_tables, dog_definition, file_runner

SCHEMA = """
type Dog @table @export {
  id: ID @primaryKey
  name: String @indexed
  age: Int
  owner: String
  created: Float @createdTime
  updated: Float @updatedTime
}
type Local @table(replicate: false) @export {
  id: ID @primaryKey
  text: String
}
"""

#: How long a condition may take to become true before a test fails.
DEADLINE = 15.0


def fast_retry(attempt: int) -> float:
    """
    Reconnect quickly: tests cut links on purpose.
    """
    return min(0.02 * (attempt + 1), 0.5)


class Node:
    """
    One harper node in this process.

    :ivar name: its node name.
    :ivar root: its data folder (kept across L{restart}).
    """

    def __init__(self, case: TestCase, name: str, **settings: Any) -> None:
        self.case = case
        self.name = name
        self.root = os.path.abspath(case.mktemp())
        self.settings = settings
        self.runtime: Optional[Runtime] = None
        self.cluster: Optional[ReplicationCluster] = None
        self.port = 0

    @property
    def url(self) -> str:
        """
        This node's replication URL.
        """
        return f"ws://127.0.0.1:{self.port}"

    @property
    def tables(self) -> Any:
        """
        The node's tables namespace.
        """
        return self.runtime.tables

    @inlineCallbacks
    def start(self, routes: Sequence[Any] = (), **overrides: Any) -> Any:
        """
        Open the node's database and start replicating with C{routes} (nodes or routes).
        """
        config = config_from_string(
            "storage: {threadPoolSize: 2}\n",
            base_dir=".",
            root=self.root,
            environ={},
        )
        schema = parse_schema([("schema.graphql", SCHEMA)])
        planned = [ApplicationTables(Application(".", config), schema)]
        self.runtime = Runtime(config, planned, reactor)
        self.runtime.start()
        replica = Replica(self.name, self.runtime.runner, ServedTables(self.runtime.resources), "*",
                          self.runtime.writer)
        options = {**self.settings, **overrides}
        settings = ClusterSettings(
            node=self.name, host="127.0.0.1", port=self.port,
            routes=tuple(r if isinstance(r, Route) else Route(r.url) for r in routes), **options,
        )
        self.cluster = ReplicationCluster(settings, replica, reactor, retry_policy=fast_retry)
        self.cluster.startService()
        self.case.addCleanup(self.stop)
        yield self.cluster.ready
        self.port = self.cluster.port.getHost().port

    @inlineCallbacks
    def stop(self) -> Any:
        """
        Stop replicating and close the database (nothing when already stopped).
        """
        cluster, runtime = self.cluster, self.runtime
        self.cluster = self.runtime = None
        if cluster is not None:
            yield cluster.stopService()
        if runtime is not None:
            runtime.stop()

    def records(self, table: str = "Dog") -> list[tuple[Any, dict]]:
        """
        Every record of C{table}, by key.
        """
        resource = self.runtime.resources[("data", table)]
        scan = resource.table.scan
        return self.runtime.runner.read(
            lambda txn: sorted((entry.value["id"], dict(entry.value)) for entry in scan(txn))
        )

    def record(self, key: Any, table: str = "Dog") -> Optional[dict]:
        """
        The record C{key} of C{table}, or C{None}.
        """
        resource = self.runtime.resources[("data", table)]
        return self.runtime.runner.read(lambda txn: resource.table.get(txn, key))


@inlineCallbacks
def eventually(condition: Callable[[], bool], deadline: float = DEADLINE) -> Any:
    """
    Wait until C{condition()} is true, polling; fail after C{deadline} seconds.
    """
    waited = 0.0
    while not condition():
        if waited > deadline:
            raise AssertionError(f"condition not met within {deadline} s")
        yield deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


def converged(*nodes: Node) -> Callable[[], bool]:
    """
    A condition: every node holds the same Dog records.
    """

    def check() -> bool:
        first = nodes[0].records()
        return all(node.records() == first for node in nodes[1:])

    return check


def deferred_write(result: Any) -> Deferred:
    """
    C{result} as a Deferred (table handles return one from the reactor thread).
    """
    return result if isinstance(result, Deferred) else Deferred().callback(result)


def links_between(first: Node, second: Node) -> list:
    """
    The links of C{first} to C{second} and of C{second} to C{first}.
    """
    found = []
    for node, other in ((first, second), (second, first)):
        found.extend(link for link in node.cluster.links() if link.peer == other.name)
    return found


def partition(first: Node, second: Node) -> list:
    """
    Cut the links between two nodes until L{heal} (they do not reconnect); return them.
    """
    cut = links_between(first, second)
    for link in cut:
        link.stopService()
    return cut


def heal(cut: list) -> None:
    """
    Reconnect links cut by L{partition}.
    """
    for link in cut:
        link.startService()


def connected(*nodes: Node) -> Callable[[], bool]:
    """
    A condition: every node has a connected, streaming link to every other.
    """

    def check() -> bool:
        for node in nodes:
            links = node.cluster.links()
            peers = {link.peer for link in links if link.connected and link.state == "streaming"}
            if not {other.name for other in nodes if other is not node} <= peers:
                return False
        return True

    return check


def local_replica(
    case: TestCase, node: str = "node-a", **definition_options: Any
) -> tuple[Replica, Any]:
    """
    A L{Replica} over a new FileStorage holding the C{Dog} table of L{tests.helpers}, logging
    local transactions (no network), and that table.
    """
    runner = file_runner(case, threads=2)
    [table] = create_tables(runner, dog_definition(**definition_options))
    replica = Replica(node, runner, {("data", "Dog"): table})
    replica.start_recording()
    return replica, table
