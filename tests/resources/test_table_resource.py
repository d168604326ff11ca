"""
Tests for L{harper.resources.table.TableResource} and the tables namespace.
"""

from twisted.internet import defer
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from harper.components.application import Application
from harper.components.runtime import ApplicationTables, Runtime
from harper.database.conditions import Condition, Query, Select, SelectField
from harper.errors import Conflict, InvalidInput, NotFound, ValidationError
from harper.interfaces import IResource
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from harper.schema.sdl import parse_schema
from harper.components.config import config_from_string

SCHEMA = """
type Owner @table @export {
  id: Int @primaryKey
  name: String! @indexed
  dogs: [Dog] @relationship(to: "ownerId")
}
type Dog @table @export {
  id: ID @primaryKey
  name: String! @indexed
  age: Int
  ownerId: Int @indexed
  owner: Owner @relationship(from: "ownerId")
  dogYears: Int @computed(from: "age * 7")
}
"""


class TableResourceTests(TestCase):
    """
    The Resource API of tables inside a started L{Runtime} on FileStorage.
    """

    def setUp(self) -> None:
        from twisted.internet import reactor

        root = self.mktemp()
        config = config_from_string("storage: {threadPoolSize: 4}\n", base_dir=".", root=root, environ={})
        application = Application(".", config)
        planned = [ApplicationTables(application, parse_schema([("kennel.graphql", SCHEMA)]))]
        self.runtime = Runtime(config, planned, reactor)
        self.runtime.start()
        self.addCleanup(self.runtime.stop)
        self.tables = self.runtime.tables
        self.events = []
        self.runtime.feed.listen(self.events.append)

    def test_provides_interface(self) -> None:
        """
        Table resources provide L{IResource}.
        """
        verifyObject(IResource, self.tables.Dog.resource)

    @defer.inlineCallbacks
    def test_create_generates_keys(self) -> None:
        """
        C{create} generates UUIDs for ID keys and increasing integers for Int keys.
        """
        dog = yield self.tables.Dog.create({"name": "Rex"})
        first = yield self.tables.Owner.create({"name": "Ann"})
        second = yield self.tables.Owner.create({"name": "Bob"})
        self.assertEqual(len(dog["id"]), 36)
        self.assertEqual((first["id"], second["id"]), (1, 2))
        yield self.assertFailure(self.tables.Owner.create({"id": 1, "name": "Again"}), Conflict)

    @defer.inlineCallbacks
    def test_invalid_record_not_stored(self) -> None:
        """
        A record violating the schema is refused with every problem named; nothing is stored
        and no event is emitted.
        """
        failure = yield self.assertFailure(self.tables.Dog.put("d1", {"age": "old"}), ValidationError)
        self.assertIn("Dog.age", failure.message)
        self.assertIn("Dog.name", failure.message)
        yield self.assertFailure(self.tables.Dog.get("d1"), NotFound)
        self.assertEqual(self.events, [])

    @defer.inlineCallbacks
    def test_mismatched_key(self) -> None:
        """
        A body whose key differs from the target id is refused.
        """
        yield self.assertFailure(self.tables.Dog.put("d1", {"id": "d2", "name": "x"}), InvalidInput)

    @defer.inlineCallbacks
    def test_select_relationships_and_computed(self) -> None:
        """
        Selections resolve relationships both ways and computed attributes, which are not
        returned unless selected.
        """
        yield self.tables.Owner.put(1, {"name": "Ann"})
        yield self.tables.Dog.put("d1", {"name": "Rex", "age": 2, "ownerId": 1})
        plain = yield self.tables.Dog.get("d1")
        self.assertNotIn("dogYears", plain)
        select = Select((SelectField("name"), SelectField("dogYears"), SelectField("owner", Select((SelectField("name"),)))))
        found = yield self.tables.Dog.search(Query(Condition("name", "equals", "Rex"), select=select))
        self.assertEqual(found, [{"name": "Rex", "dogYears": 14, "owner": {"name": "Ann"}}])
        owners = yield self.tables.Owner.search(Query(select=Select((SelectField("dogs", Select((SelectField("name"),), "value")),))))
        self.assertEqual(owners, [{"dogs": ["Rex"]}])

    @defer.inlineCallbacks
    def test_select_related_per_record(self) -> None:
        """
        In one search, records sharing a related record and records with their own each get
        theirs (the projector remembers related records by key, not by position).
        """
        yield self.tables.Owner.put(1, {"name": "Ann"})
        yield self.tables.Owner.put(2, {"name": "Bob"})
        for key, owner in [("d1", 1), ("d2", 2), ("d3", 1), ("d4", None)]:
            yield self.tables.Dog.put(key, {"name": key, "ownerId": owner})
        owner_name = SelectField("owner", Select((SelectField("name"),), "value"))
        found = yield self.tables.Dog.search(Query(select=Select((SelectField("name"), owner_name))))
        self.assertEqual(
            found,
            [{"name": "d1", "owner": "Ann"}, {"name": "d2", "owner": "Bob"},
             {"name": "d3", "owner": "Ann"}, {"name": "d4", "owner": None}],
        )

    @defer.inlineCallbacks
    def test_nested_calls_share_transaction(self) -> None:
        """
        Calls made with the context of a running call join its transaction: a failure after
        them leaves nothing written.
        """
        def work(txn):
            context = RequestContext(transaction=txn, tables=self.tables)
            self.tables.Owner.put(5, {"name": "Eve"}, context)
            self.tables.Dog.put("d5", {"name": "Max", "ownerId": 5}, context)
            self.tables.Dog.patch("nope", {"age": 1}, context)

        yield self.assertFailure(self.runtime.runner.run(work), NotFound)
        yield self.assertFailure(self.tables.Owner.get(5), NotFound)
        self.assertEqual(self.events, [])

    @defer.inlineCallbacks
    def test_subscribe_and_publish(self) -> None:
        """
        Subscribers of a record get its committed changes and published messages (which are
        not stored); subscribers of the table get every record's.
        """
        record_events, table_events = [], []
        self.tables.Dog.subscribe(record_events.append, "d1")
        subscription = self.tables.Dog.subscribe(table_events.append)
        yield self.tables.Dog.put("d1", {"name": "Rex"})
        yield self.tables.Dog.put("d2", {"name": "Max"})
        yield self.tables.Dog.publish("d1", {"bark": True})
        yield self.tables.Dog.delete("d1")
        subscription.close()
        yield self.tables.Dog.put("d3", {"name": "Fido"})
        self.assertEqual([(e.type, e.id) for e in record_events], [("put", "d1"), ("message", "d1"), ("delete", "d1")])
        self.assertEqual([e.id for e in table_events], ["d1", "d2", "d1", "d1"])
        yield self.assertFailure(self.tables.Dog.get("d1"), NotFound)

    @defer.inlineCallbacks
    def test_collection_delete_and_describe(self) -> None:
        """
        Deleting a collection target deletes its matches; the description counts records.
        """
        for number in range(4):
            yield self.tables.Dog.put(f"d{number}", {"name": "Rex" if number % 2 else "Max"})
        resource = self.tables.Dog.resource
        target = RequestTarget.collection(Query(Condition("name", "equals", "Rex")))
        deleted = yield self.runtime.caller.call("delete", resource, target, RequestContext())
        self.assertEqual(deleted, 2)
        description = yield self.runtime.caller.call("get", resource, RequestTarget(), RequestContext())
        self.assertEqual(description["recordCount"], 2)
        self.assertEqual(description["primaryKey"], "id")

    @defer.inlineCallbacks
    def test_text_values_cast(self) -> None:
        """
        Text operands from URLs are cast to the attribute's type.
        """
        yield self.tables.Dog.put("d1", {"name": "Rex", "age": 5})
        found = yield self.tables.Dog.search(Query(Condition("age", "equals", "5")))
        self.assertEqual([r["id"] for r in found], ["d1"])
