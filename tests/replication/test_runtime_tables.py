"""
Tables created at run time (C{create_table}, L{harper.components.catalog}) replicate without
a restart: the replicated-table lookup follows the tables a node serves
(L{harper.replication.recorder.ServedTables}). Two nodes in this process on loopback.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.components.catalog import dynamic_definition
from harper.replication.recorder import ServedTables
from tests.replication.helpers import Node, connected, eventually


class RuntimeTablesTests(TestCase):
    """
    Nodes A and B, linked both ways, each creating table C{data.Cat} after it started.
    """

    @inlineCallbacks
    def setUp(self) -> Any:
        self.a = Node(self, "node-a")
        self.b = Node(self, "node-b")
        yield self.a.start()
        yield self.b.start([self.a])
        yield eventually(connected(self.a, self.b))

    def create_cat(self, node: Node, *attributes: str) -> Any:
        """
        Create C{data.Cat} on C{node} through its catalog, as C{create_table} does.
        """
        return node.runtime.catalog.create_table(dynamic_definition("data", "Cat", "id", attributes))

    def cat(self, node: Node, key: str) -> Any:
        """
        The Cat record C{key} on C{node}, or C{None}.
        """
        table = node.runtime.resources[("data", "Cat")].table
        return node.runtime.runner.read(lambda txn: table.get(txn, key))

    def put_cat(self, node: Node, record: dict) -> Any:
        """
        Write a Cat record on C{node} through its table handle.
        """
        return node.runtime.databases.namespace("data").Cat.put(record["id"], record)

    @inlineCallbacks
    def test_runtime_table_replicates(self) -> Any:
        """
        Writes to a table both nodes created at run time reach the other node, and the table
        is among those the node replicates (base copies, C{cluster_status}).
        """
        yield self.create_cat(self.a)
        yield self.create_cat(self.b)
        yield self.put_cat(self.a, {"id": "tom", "name": "Tom"})
        yield eventually(lambda: self.cat(self.b, "tom") is not None)
        self.assertEqual(self.cat(self.b, "tom")["name"], "Tom")
        yield self.put_cat(self.b, {"id": "kit", "name": "Kit"})
        yield eventually(lambda: self.cat(self.a, "kit") is not None)
        self.assertIn(("data", "Cat"), [(t.database, t.name) for t in self.a.cluster.replica.tables])

    @inlineCallbacks
    def test_redefined_table_replicates(self) -> Any:
        """
        After C{create_attribute} serves a new definition of the table, its writes still
        replicate with the new attribute.
        """
        yield self.create_cat(self.a)
        yield self.create_cat(self.b)
        yield self.a.runtime.catalog.create_attribute("data", "Cat", "colour")
        yield self.b.runtime.catalog.create_attribute("data", "Cat", "colour")
        yield self.put_cat(self.a, {"id": "tom", "colour": "grey"})
        yield eventually(lambda: self.cat(self.b, "tom") is not None)
        self.assertEqual(self.cat(self.b, "tom")["colour"], "grey")

    def test_served_tables_follow_resources(self) -> None:
        """
        L{ServedTables} reads the resources at each lookup.
        """
        resources: dict = {}
        tables = ServedTables(resources)
        self.assertEqual((len(tables), tables.get(("data", "Cat"))), (0, None))
        resource = self.a.runtime.resources[("data", "Dog")]
        resources[("data", "Dog")] = resource
        self.assertEqual(dict(tables), {("data", "Dog"): resource.table})
