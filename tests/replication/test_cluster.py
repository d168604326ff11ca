"""
End-to-end tests of replication: nodes in this process, each on its own FileStorage, linked
by real WebSocket connections on loopback.
"""

from __future__ import annotations

from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.database.events import DELETE, MESSAGE, PUT
from harper.errors import InvalidInput, NotFound
from harper.replication.log import replication_state
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from tests.replication.helpers import (
    Node, connected, converged, eventually, heal, partition,
)


class TwoNodeTests(TestCase):
    """
    Two nodes; the second has a route to the first, which replicates back through the URL the
    second announces.
    """

    @inlineCallbacks
    def setUp(self) -> None:
        self.a = Node(self, "node-a")
        self.b = Node(self, "node-b")
        yield self.a.start()
        yield self.b.start([self.a])
        yield eventually(connected(self.a, self.b))

    @inlineCallbacks
    def test_write_visible_on_the_other_node(self) -> None:
        """
        A record written on either node appears on the other with the same value, managed
        time attributes included.
        """
        yield self.a.tables.Dog.put("rex", {"name": "Rex", "age": 3})
        yield eventually(lambda: self.b.record("rex") is not None)
        self.assertEqual(self.b.record("rex"), self.a.record("rex"))
        yield self.b.tables.Dog.put("fido", {"name": "Fido"})
        yield eventually(lambda: self.a.record("fido") is not None)
        self.assertEqual(self.a.record("fido"), self.b.record("fido"))

    @inlineCallbacks
    def test_subscribers_see_replicated_changes(self) -> None:
        """
        A subscriber on one node receives the puts, deletes and published messages made on
        the other, with the origin's timestamp.
        """
        events = []
        self.b.tables.Dog.subscribe(events.append)
        written = yield self.a.tables.Dog.put("rex", {"name": "Rex"})
        yield self.a.tables.Dog.publish("rex", {"bark": "loud"})
        yield self.a.tables.Dog.delete("rex")
        yield eventually(lambda: len(events) == 3)
        self.assertEqual([e.type for e in events], [PUT, MESSAGE, DELETE])
        self.assertEqual(events[0].value, written)
        self.assertEqual(events[0].timestamp, written["updated"])
        self.assertEqual(events[1].value, {"bark": "loud"})

    @inlineCallbacks
    def test_changes_are_not_echoed(self) -> None:
        """
        A change applied from a peer is not sent back to it: the origin's log holds only its
        own entry and its subscribers see the change once.
        """
        events = []
        self.a.tables.Dog.subscribe(events.append)
        yield self.a.tables.Dog.put("rex", {"name": "Rex"})
        yield eventually(lambda: self.b.record("rex") is not None)
        yield self.b.tables.Dog.put("fido", {"name": "Fido"})
        yield eventually(lambda: self.a.record("fido") is not None)
        self.assertEqual([e.id for e in events], ["rex", "fido"])
        heads = self.a.runtime.runner.read(lambda txn: replication_state(txn).head)
        self.assertEqual(heads, 2)

    @inlineCallbacks
    def test_tables_that_do_not_replicate(self) -> None:
        """
        Tables declared with C{replicate: false} stay on their node.
        """
        yield self.a.tables.Local.put("x", {"text": "only here"})
        yield self.a.tables.Dog.put("rex", {"name": "Rex"})
        yield eventually(lambda: self.b.record("rex") is not None)
        self.assertIsNone(self.b.record("x", "Local"))

    @inlineCallbacks
    def test_transaction_replicates_atomically(self) -> None:
        """
        The changes of one transaction arrive as one log entry, applied together.
        """
        resource = self.a.runtime.resources[("data", "Dog")]

        def both(txn):
            context = RequestContext()
            context.transaction = txn
            resource.put(RequestTarget.record("one"), {"name": "One"}, context)
            resource.put(RequestTarget.record("two"), {"name": "Two"}, context)

        yield self.a.runtime.runner.run(both)
        yield eventually(lambda: self.b.record("two") is not None)
        entries = self.b.runtime.runner.read(
            lambda txn: list(replication_state(txn).entries.values()),
        )
        self.assertEqual([[c[2] for c in entry[3]] for entry in entries], [["one", "two"]])

    @inlineCallbacks
    def test_concurrent_writes_converge(self) -> None:
        """
        The same record written on both nodes while they are apart ends with the newer
        write on both.
        """
        cut = partition(self.a, self.b)
        first = yield self.a.tables.Dog.put("rex", {"name": "Rex A"})
        second = yield self.b.tables.Dog.put("rex", {"name": "Rex B"})
        heal(cut)
        yield eventually(converged(self.a, self.b))
        self.assertLess(first["updated"], second["updated"])
        self.assertEqual(self.a.record("rex")["name"], "Rex B")

    @inlineCallbacks
    def test_newer_write_beats_delete(self) -> None:
        """
        A write made after a concurrent delete wins on both nodes.
        """
        yield self.a.tables.Dog.put("rex", {"name": "Rex"})
        yield eventually(converged(self.a, self.b))
        cut = partition(self.a, self.b)
        yield self.a.tables.Dog.delete("rex")
        yield self.b.tables.Dog.put("rex", {"name": "Rex again"})
        heal(cut)
        yield eventually(lambda: self.a.record("rex") is not None)
        yield eventually(converged(self.a, self.b))
        self.assertEqual(self.b.record("rex")["name"], "Rex again")

    @inlineCallbacks
    def test_newer_delete_beats_write(self) -> None:
        """
        A delete made after a concurrent write wins on both nodes, and the write arriving
        late does not bring the record back.
        """
        yield self.a.tables.Dog.put("rex", {"name": "Rex"})
        yield eventually(converged(self.a, self.b))
        cut = partition(self.a, self.b)
        yield self.b.tables.Dog.put("rex", {"name": "Rex renamed"})
        yield self.a.tables.Dog.delete("rex")
        heal(cut)
        yield eventually(lambda: self.b.record("rex") is None)
        yield eventually(connected(self.a, self.b))
        yield self.a.tables.Dog.put("marker", {"name": "Marker"})
        yield eventually(lambda: self.b.record("marker") is not None)
        self.assertEqual((self.a.record("rex"), self.b.record("rex")), (None, None))

    @inlineCallbacks
    def test_patches_of_different_attributes_both_survive(self) -> None:
        """
        Patches made apart on the two nodes to different attributes of one record both
        survive on both nodes.
        """
        yield self.a.tables.Dog.put("rex", {"name": "Rex", "age": 1, "owner": "Ann"})
        yield eventually(converged(self.a, self.b))
        cut = partition(self.a, self.b)
        yield self.a.tables.Dog.patch("rex", {"age": 2})
        yield self.b.tables.Dog.patch("rex", {"owner": "Bob"})
        heal(cut)
        yield eventually(
            lambda: self.a.record("rex")["owner"] == "Bob" and self.b.record("rex")["age"] == 2,
        )
        yield eventually(converged(self.a, self.b))
        self.assertEqual((self.a.record("rex")["age"], self.a.record("rex")["owner"]), (2, "Bob"))

    @inlineCallbacks
    def test_catch_up_after_cut_links(self) -> None:
        """
        Links cut 20 times in the middle of streaming while writes go on catch up from their
        last confirmed position: both nodes end with the same records.
        """
        for round in range(20):
            writes = []
            for index in range(5):
                writes.append(
                    self.a.tables.Dog.put(f"a{round}-{index}", {"name": "from a", "age": index}),
                )
                writes.append(self.b.tables.Dog.patch("shared", {"age": round}) if round else
                              self.b.tables.Dog.put("shared", {"name": "shared", "age": 0}))
            yield writes[0]
            for link in self.b.cluster.links() + self.a.cluster.links():
                link.disconnect()
            yield gatherResults(writes)
            yield eventually(connected(self.a, self.b))
        yield eventually(lambda: len(self.b.records()) == 101)
        yield eventually(converged(self.a, self.b))
        self.assertEqual(self.a.record("shared")["age"], 19)

    @inlineCallbacks
    def test_pruned_position_gets_base_copy_without_data_loss(self) -> None:
        """
        A node whose position was pruned from its peer's log gets a base copy, which brings
        the peer's records without removing the records only it has (or its newer writes).
        """
        yield self.a.tables.Dog.put("old", {"name": "Old"})
        yield eventually(converged(self.a, self.b))
        [link] = self.b.cluster.links()
        copies = link.copies
        cut = partition(self.a, self.b)
        yield self.a.tables.Dog.put("a-only", {"name": "A"})
        yield self.a.tables.Dog.put("old", {"name": "Old, renamed on A"})
        yield self.b.tables.Dog.put("b-only", {"name": "B"})
        yield self.a.runtime.runner.run(
            lambda txn: self.a.cluster.replica.log.prune(txn, float("inf")),
        )
        heal(cut)
        yield eventually(lambda: (link.state, link.copies) == ("streaming", copies + 1))
        yield eventually(converged(self.a, self.b))
        self.assertEqual([key for key, _ in self.b.records()], ["a-only", "b-only", "old"])
        self.assertEqual(self.b.record("old")["name"], "Old, renamed on A")


class ThreeNodeTests(TestCase):
    """
    Three nodes: C has routes to A and B, B to A; the rest comes from replicating back.
    """

    @inlineCallbacks
    def setUp(self) -> None:
        self.a, self.b, self.c = Node(self, "node-a"), Node(self, "node-b"), Node(self, "node-c")
        yield self.a.start()
        yield self.b.start([self.a])
        yield self.c.start([self.a, self.b])
        yield eventually(connected(self.a, self.b, self.c))

    @inlineCallbacks
    def test_write_on_any_node_readable_on_all(self) -> None:
        """
        A write on any node is readable on the other two.
        """
        for node in (self.a, self.b, self.c):
            yield node.tables.Dog.put(node.name, {"name": node.name})
        yield eventually(lambda: all(len(node.records()) == 3 for node in (self.a, self.b, self.c)))
        yield eventually(converged(self.a, self.b, self.c))
        heads = [node.cluster.cluster_status()["head"] for node in (self.a, self.b, self.c)]
        self.assertEqual(heads, [3, 3, 3])

    @inlineCallbacks
    def test_concurrent_writes_converge(self) -> None:
        """
        The same record written on A and B at the same time ends with the same value on all
        three nodes: the write with the newer version.
        """
        first, second = yield gatherResults([
            self.a.tables.Dog.put("rex", {"name": "Rex A"}),
            self.b.tables.Dog.put("rex", {"name": "Rex B"}),
        ])
        yield eventually(converged(self.a, self.b, self.c))
        winner = max((first["updated"], "node-a", "Rex A"), (second["updated"], "node-b", "Rex B"))
        self.assertEqual(self.c.record("rex")["name"], winner[2])

    @inlineCallbacks
    def test_stopped_node_catches_up(self) -> None:
        """
        A node stopped while the others write catches up when it starts again.
        """
        yield self.c.tables.Dog.put("before", {"name": "Before"})
        yield eventually(converged(self.a, self.b, self.c))
        yield self.c.stop()
        yield self.a.tables.Dog.put("from-a", {"name": "A"})
        yield self.b.tables.Dog.put("from-b", {"name": "B"})
        yield self.a.tables.Dog.delete("before")
        yield self.c.start([self.a, self.b])
        yield eventually(lambda: [key for key, _ in self.c.records()] == ["from-a", "from-b"])
        yield eventually(converged(self.a, self.b, self.c))
        yield self.c.tables.Dog.put("after", {"name": "After"})
        yield eventually(
            lambda: self.a.record("after") is not None and self.b.record("after") is not None,
        )


class RuntimeRouteTests(TestCase):
    """
    Routes added, changed and removed while nodes run, and the cluster status.
    """

    @inlineCallbacks
    def setUp(self) -> None:
        self.a = Node(self, "node-a")
        self.b = Node(self, "node-b")
        yield self.a.start()
        yield self.b.start()
        yield self.a.tables.Dog.put("rex", {"name": "Rex"})

    @inlineCallbacks
    def test_added_node_gets_base_copy_then_streams(self) -> None:
        """
        A node added at run time receives the existing records, then new writes.
        """
        self.b.cluster.add_node(self.a.url)
        yield eventually(lambda: self.b.record("rex") is not None)
        yield self.a.tables.Dog.put("fido", {"name": "Fido"})
        yield eventually(converged(self.a, self.b))
        [link] = self.b.cluster.links()
        self.assertEqual((link.peer, link.copies), ("node-a", 1))

    @inlineCallbacks
    def test_cluster_status(self) -> None:
        """
        C{cluster_status} reports each peer's connection, position, lag and what it
        confirmed of this node's log.
        """
        self.b.cluster.add_node(self.a.url)
        yield eventually(connected(self.a, self.b))
        yield self.a.tables.Dog.put("fido", {"name": "Fido"})
        yield eventually(lambda: self.b.cluster.cluster_status()["connections"][0]["position"] == 2)
        status = self.b.cluster.cluster_status()
        self.assertEqual((status["nodeName"], status["url"]), ("node-b", self.b.url))
        [connection] = status["connections"]
        self.assertEqual(
            {k: connection[k] for k in ("url", "name", "connected", "state", "lag", "subscribed")},
            {"url": self.a.url, "name": "node-a", "connected": True, "state": "streaming", "lag": 0,
             "subscribed": True},
        )
        yield eventually(
            lambda: self.a.cluster.cluster_status()["connections"][0]["confirmed"] == 2,
        )
        self.assertEqual(self.a.cluster.cluster_status()["connections"][0]["behind"], 0)

    @inlineCallbacks
    def test_remove_node(self) -> None:
        """
        After C{remove_node}, writes on the removed peer no longer arrive.
        """
        self.b.cluster.add_node(self.a.url, name="node-a", sends=False)
        yield eventually(lambda: self.b.record("rex") is not None)
        yield self.b.cluster.remove_node("node-a")
        self.assertEqual(self.b.cluster.links(), [])
        yield eventually(lambda: self.a.cluster.cluster_status()["connections"] == [])
        yield self.a.tables.Dog.put("late", {"name": "Late"})
        self.assertIsNone(self.b.record("late"))

    @inlineCallbacks
    def test_removed_node_is_refused(self) -> None:
        """
        A node removed while it still has a route here is refused when it subscribes again.
        """
        self.b.cluster.add_node(self.a.url)
        yield eventually(connected(self.a, self.b))
        yield self.a.cluster.remove_node("node-b")
        [link] = self.b.cluster.links()
        yield eventually(lambda: link.refusal == "node-a removed node-b from its cluster")
        self.assertEqual(self.a.cluster.cluster_status()["connections"], [])
        yield self.a.tables.Dog.put("late", {"name": "Late"})
        self.assertIsNone(self.b.record("late"))

    @inlineCallbacks
    def test_bad_routes_refused(self) -> None:
        """
        Adding a route that is not a WebSocket URL, or changing an unknown route or field,
        fails with a clear error.
        """
        error = self.assertRaises(InvalidInput, self.a.cluster.add_node, "http://x:1")
        self.assertIn("is not a ws:// or wss:// URL", error.message)
        self.assertRaises(NotFound, self.a.cluster.update_node, "ws://nowhere:1", sends=False)
        self.assertRaises(NotFound, self.a.cluster.remove_node, "node-z")
        self.a.cluster.add_node(self.b.url)
        error = self.assertRaises(
            InvalidInput,
            self.a.cluster.update_node,
            self.b.url,
            colour="red",
        )
        self.assertIn("unknown fields ['colour']", error.message)
        yield self.a.cluster.remove_node(self.b.url)

    @inlineCallbacks
    def test_one_way_route(self) -> None:
        """
        A route that does not send: the peer pulls nothing from this node, while this node
        still pulls from it.
        """
        self.b.cluster.add_node(self.a.url, sends=False)
        yield eventually(lambda: self.b.record("rex") is not None)
        yield self.b.tables.Dog.put("from-b", {"name": "B"})
        yield self.a.tables.Dog.put("marker", {"name": "Marker"})
        yield eventually(lambda: self.b.record("marker") is not None)
        self.assertIsNone(self.a.record("from-b"))

    @inlineCallbacks
    def test_update_node(self) -> None:
        """
        C{update_node} changes a route in place: turning C{receives} off closes the link.
        """
        self.b.cluster.add_node(self.a.url)
        yield eventually(lambda: self.b.record("rex") is not None)
        route = self.b.cluster.update_node(self.a.url, receives=False)
        self.assertFalse(route.receives)
        self.assertEqual(self.b.cluster.links(), [])


class SecurityTests(TestCase):
    """
    The cluster user (TLS and certificate identity: L{tests.replication.test_tls}).
    """

    @inlineCallbacks
    def test_cluster_user_required(self) -> None:
        """
        With a cluster user configured, a peer with the wrong password is refused and
        receives nothing; one with the right password replicates.
        """
        a = Node(self, "node-a", username="cluster", password="s3cret")
        yield a.start()
        yield a.tables.Dog.put("rex", {"name": "Rex"})
        intruder = Node(self, "node-x", username="cluster", password="wrong")
        yield intruder.start([a])
        friend = Node(self, "node-b", username="cluster", password="s3cret")
        yield friend.start([a])
        yield eventually(lambda: friend.record("rex") is not None)
        [link] = intruder.cluster.links()
        self.assertEqual((link.connected, intruder.record("rex")), (False, None))
        self.assertNotIn("node-x", [c["name"] for c in a.cluster.cluster_status()["connections"]])


class UpkeepTests(TestCase):
    """
    Upkeep prunes the log and purges tombstones every peer confirmed.
    """

    @inlineCallbacks
    def test_tombstone_purged_once_confirmed(self) -> None:
        """
        A delete's tombstone stays until the peer confirmed it, then upkeep removes it; old
        entries are pruned by the retention.
        """
        a, b = Node(self, "node-a", retention=0.0), Node(self, "node-b")
        yield a.start()
        yield b.start([a])
        yield eventually(connected(a, b))
        table = a.runtime.resources[("data", "Dog")].table
        yield a.tables.Dog.put("rex", {"name": "Rex"})
        yield a.tables.Dog.delete("rex")
        tombstones = lambda: a.runtime.runner.read(
            lambda txn: a.cluster.replica.versions.tombstones(txn, table),
        )
        self.assertEqual(len(tombstones()), 1)
        yield eventually(lambda: a.cluster.cluster_status()["connections"][0]["confirmed"] == 2)
        yield a.cluster.upkeep()
        self.assertEqual(tombstones(), [])
        self.assertEqual(a.runtime.runner.read(lambda txn: len(replication_state(txn).entries)), 0)
