"""
Tests for L{harper.operations.structure_ops} and L{harper.components.catalog}: databases,
tables and attributes made and dropped through the operations API.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred

from harper.components.runtime import Runtime
from harper.database.events import DELETE, PUT, ChangeEvent
from harper.operations.api import OperationsAPI, default_operations
from harper.operations.scope import OperationScope
from harper.http.site import make_site
from tests.operations.helpers import OperationsCase, basic

CREATE_CAT = {"operation": "create_table", "table": "Cat", "primary_key": "id", "attributes": ["name", "colour"]}


class CreateTableTests(OperationsCase):
    """
    C{create_table} makes a dynamic table usable at once by the other operations.
    """

    async def test_create_and_use(self) -> None:
        """
        The new table takes any attribute, indexes the listed ones, and is described.
        """
        self.assertEqual(await self.ok(CREATE_CAT), {"message": "table 'data.Cat' successfully created."})
        inserted = await self.ok({"operation": "insert", "table": "Cat",
                                  "records": [{"id": "tom", "name": "Tom", "lives": 9}, {"name": "Felix"}]})
        self.assertEqual(inserted["inserted_hashes"][0], "tom")
        self.assertIsInstance(inserted["inserted_hashes"][1], str)
        found = await self.ok({"operation": "search_by_value", "table": "Cat", "attribute": "name",
                               "value": "Tom", "get_attributes": ["id", "lives"]})
        self.assertEqual(found, [{"id": "tom", "lives": 9}])
        described = await self.ok({"operation": "describe_table", "table": "Cat"})
        self.assertEqual((described["hash_attribute"], described["record_count"]), ("id", 2))
        self.assertFalse(described["schema_defined"])
        names = {attribute["attribute"] for attribute in described["attributes"]}
        self.assertEqual(names, {"id", "name", "colour", "__createdtime__", "__updatedtime__"})
        record = (await self.ok({"operation": "search_by_id", "table": "Cat", "ids": ["tom"]}))[0]
        self.assertIsInstance(record["__createdtime__"], float)
        everything = await self.ok({"operation": "describe_all"})
        self.assertEqual(sorted(everything["data"]), ["Breed", "Cat", "Dog"])
        selected = await self.ok({"operation": "sql", "sql": "SELECT id, lives FROM data.Cat WHERE name = 'Tom'"})
        self.assertEqual(selected, [{"id": "tom", "lives": 9}])
        self.assertNotIn("Cat", [path for path, _ in self.runtime.registry.items()], "REST serves exports only")

    async def test_other_database_and_expiration(self) -> None:
        """
        C{database} (alias C{schema}) places the table, creating the database;
        C{hash_attribute} is an alias of C{primary_key}; C{expiration} is kept.
        """
        await self.ok({"operation": "create_table", "schema": "zoo", "table": "Lion",
                       "hash_attribute": "tag", "expiration": 3600})
        described = await self.ok({"operation": "describe_database", "database": "zoo"})
        self.assertEqual(described["Lion"]["hash_attribute"], "tag")
        self.assertEqual(described["Lion"]["expiration"], 3600)

    async def test_bad_input(self) -> None:
        """
        Missing and malformed fields are 400s naming the field; an existing table or the
        system database is refused.
        """
        cases = [
            ({"operation": "create_table", "primary_key": "id"}, "table: required"),
            ({"operation": "create_table", "table": "Cat"}, "primary_key: required"),
            ({"operation": "create_table", "table": 3, "primary_key": "id"}, "table: expected text, got a number"),
            ({"operation": "create_table", "table": "a b", "primary_key": "id"}, "table: 'a b' is not a valid name"),
            ({"operation": "create_table", "table": "Cat", "primary_key": "id", "attributes": "name"},
             "attributes: expected a list, got text"),
            ({"operation": "create_table", "table": "Cat", "primary_key": "id", "attributes": [1]},
             "attributes[0]: expected an attribute name"),
            ({"operation": "create_table", "table": "Cat", "primary_key": "id", "attributes": ["a", "a"]},
             "attributes[1]: 'a' is listed twice"),
            ({"operation": "create_table", "table": "Cat", "primary_key": "id", "expiration": -1},
             "expiration: expected a positive number of seconds"),
            ({"operation": "create_table", "table": "Dog", "primary_key": "id"}, "table data.Dog already exists"),
            ({"operation": "create_table", "database": "system", "table": "T", "primary_key": "id"},
             "database 'system' is harper's own"),
        ]
        for body, message in cases:
            self.assertTrue((await self.refused(body, 400)).startswith(message), body)
        await self.ok(CREATE_CAT)
        self.assertEqual(await self.refused(CREATE_CAT, 400), "table data.Cat already exists")


class DropTests(OperationsCase):
    """
    Dropping tables and databases removes their records; application tables are refused.
    """

    async def test_drop_table_removes_data(self) -> None:
        """
        After C{drop_table} the table is gone, and a table made again under its name is empty.
        """
        await self.ok(CREATE_CAT)
        await self.ok({"operation": "insert", "table": "Cat", "records": [{"id": "tom"}]})
        self.assertEqual(await self.ok({"operation": "drop_table", "table": "Cat"}),
                         {"message": "successfully deleted table 'data.Cat'"})
        self.assertEqual(await self.refused({"operation": "describe_table", "table": "Cat"}, 404),
                         "table data.Cat does not exist")
        await self.refused({"operation": "insert", "table": "Cat", "records": [{"id": "x"}]}, 404)
        await self.ok(CREATE_CAT)
        self.assertEqual(await self.ok({"operation": "search_by_id", "table": "Cat", "ids": ["tom"]}), [])

    async def test_drop_refusals(self) -> None:
        """
        Application tables cannot be dropped or altered (400 naming the application);
        unknown tables and databases are 404s.
        """
        application = self.runtime.applications[0].name
        for body in (
            {"operation": "drop_table", "table": "Dog"},
            {"operation": "create_attribute", "table": "Dog", "attribute": "colour"},
            {"operation": "drop_attribute", "table": "Dog", "attribute": "owner"},
            {"operation": "drop_database", "database": "data"},
        ):
            message = await self.refused(body, 400)
            self.assertIn(f"defined by the schema of application {application!r}", message)
        self.assertEqual(await self.refused({"operation": "drop_table", "table": "Nope"}, 404),
                         "table data.Nope does not exist")
        self.assertEqual(await self.refused({"operation": "drop_database", "database": "nope"}, 404),
                         "database 'nope' does not exist")
        self.assertEqual(await self.refused({"operation": "drop_database"}, 400), "database: required")
        self.assertEqual(await self.refused({"operation": "drop_table"}, 400), "table: required")

    async def test_databases(self) -> None:
        """
        C{create_database} makes an empty database; C{drop_database} drops it with its
        tables and their records.
        """
        self.assertEqual(await self.ok({"operation": "create_database", "database": "zoo"}),
                         {"message": "database 'zoo' successfully created"})
        self.assertEqual(await self.ok({"operation": "describe_database", "database": "zoo"}), {})
        self.assertEqual((await self.ok({"operation": "describe_all"}))["zoo"], {})
        self.assertEqual(await self.refused({"operation": "create_schema", "schema": "zoo"}, 400),
                         "database 'zoo' already exists")
        await self.ok({"operation": "create_table", "database": "zoo", "table": "Lion", "primary_key": "id"})
        await self.ok({"operation": "insert", "database": "zoo", "table": "Lion", "records": [{"id": 1}]})
        self.assertEqual(await self.ok({"operation": "drop_schema", "schema": "zoo"}),
                         {"message": "successfully deleted database 'zoo'"})
        await self.refused({"operation": "describe_database", "database": "zoo"}, 404)
        await self.ok({"operation": "create_table", "database": "zoo", "table": "Lion", "primary_key": "id"})
        self.assertEqual(await self.ok({"operation": "search_by_id", "database": "zoo", "table": "Lion",
                                        "ids": [1]}), [])
        self.assertEqual(await self.refused({"operation": "create_database"}, 400), "database: required")
        self.assertEqual(await self.refused({"operation": "drop_database", "database": "system"}, 400),
                         "database 'system' is harper's own and cannot be changed")


class AttributeTests(OperationsCase):
    """
    C{create_attribute} and C{drop_attribute} on dynamic tables.
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.ok(CREATE_CAT)
        await self.ok({"operation": "insert", "table": "Cat",
                       "records": [{"id": "tom", "name": "Tom", "age": 3}, {"id": "kit", "name": "Kit", "age": 1}]})

    async def test_create_attribute_indexes_existing_records(self) -> None:
        """
        The new attribute is indexed over the records already stored.
        """
        self.assertEqual(await self.ok({"operation": "create_attribute", "table": "Cat", "attribute": "age"}),
                         {"message": "attribute 'age' successfully created."})
        store = self.runtime.runner.run_blocking(lambda txn: self.runtime.resources[("data", "Cat")].table.store(txn))
        self.assertEqual(len(store.indexes["age"]), 2)
        described = await self.ok({"operation": "describe_table", "table": "Cat"})
        self.assertIn({"attribute": "age", "type": "Any", "indexed": True, "is_primary_key": False},
                      described["attributes"])
        found = await self.ok({"operation": "search_by_conditions", "table": "Cat", "get_attributes": ["id"],
                               "conditions": [{"attribute": "age", "comparator": "greater_than", "value": 2}]})
        self.assertEqual(found, [{"id": "tom"}])

    async def test_drop_attribute_removes_values(self) -> None:
        """
        The dropped attribute's index and values are gone from every record.
        """
        self.assertEqual(await self.ok({"operation": "drop_attribute", "table": "Cat", "attribute": "name"}),
                         {"message": "successfully deleted attribute 'name'"})
        records = await self.ok({"operation": "search_by_id", "table": "Cat", "ids": ["tom", "kit"],
                                 "get_attributes": ["*"]})
        self.assertEqual(sorted(("name" in record, record["age"]) for record in records), [(False, 1), (False, 3)])
        described = await self.ok({"operation": "describe_table", "table": "Cat"})
        self.assertNotIn("name", {attribute["attribute"] for attribute in described["attributes"]})

    async def test_attribute_errors(self) -> None:
        """
        Existing, missing, primary-key and malformed attributes are refused with clear errors.
        """
        create = {"operation": "create_attribute", "table": "Cat"}
        self.assertEqual(await self.refused({**create, "attribute": "name"}, 400),
                         "attribute 'name' already exists in data.Cat")
        self.assertEqual(await self.refused(create, 400), "attribute: required")
        self.assertTrue((await self.refused({**create, "attribute": "a.b"}, 400)).startswith("attribute: 'a.b'"))
        drop = {"operation": "drop_attribute", "table": "Cat"}
        self.assertEqual(await self.refused({**drop, "attribute": "id"}, 400),
                         "attribute 'id' of data.Cat cannot be dropped")
        self.assertEqual(await self.refused({**drop, "attribute": "nope"}, 404),
                         "attribute 'nope' does not exist in data.Cat")
        self.assertEqual(await self.refused({**drop, "table": "Nope", "attribute": "x"}, 404),
                         "table data.Nope does not exist")


class PermissionTests(OperationsCase):
    """
    Structure operations need a super user or a structure user of the database.
    """

    async def test_permissions(self) -> None:
        """
        A reader gets 403; a structure user of C{zoo} may change C{zoo} only; no
        credentials is a 401.
        """
        reader = await self.add_reader()
        self.assertIn("may not create tables", await self.refused(CREATE_CAT, 403, reader))
        await self.access.users.add_role("keeper", {"structure_user": ["zoo"]})
        await self.access.users.add_user("keeper", "keeper-password", "keeper")
        keeper = basic("keeper", "keeper-password")
        await self.ok({"operation": "create_table", "database": "zoo", "table": "Lion", "primary_key": "id"}, keeper)
        await self.refused({**CREATE_CAT, "database": "data"}, 403, keeper)
        await self.refused({"operation": "drop_database", "database": "data"}, 403, keeper)
        await self.refused(CREATE_CAT, 401, None)


class RestartTests(OperationsCase):
    """
    The definitions are stored: a restarted runtime serves the tables again.
    """

    def _restart(self) -> Deferred:
        self.runtime.stop()
        self.runtime = Runtime(self.runtime.config, self.runtime.planned, reactor)
        self.runtime.start()
        self.addCleanup(self.runtime.stop)
        api = OperationsAPI(OperationScope.of_runtime(self.runtime, reactor), default_operations(), 1 << 20)
        port = reactor.listenTCP(0, make_site(api.resource()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/"

    async def test_survives_restart(self) -> None:
        """
        Tables, their attributes, records and indexes, and empty databases are back after a
        restart; a dropped table stays dropped.
        """
        await self.ok(CREATE_CAT)
        await self.ok({"operation": "create_attribute", "table": "Cat", "attribute": "age"})
        await self.ok({"operation": "insert", "table": "Cat", "records": [{"id": "tom", "age": 3}]})
        await self.ok({"operation": "create_database", "database": "empty"})
        await self.ok({"operation": "create_table", "table": "Gone", "primary_key": "id"})
        await self.ok({"operation": "drop_table", "table": "Gone"})
        self._restart()
        found = await self.ok({"operation": "search_by_value", "table": "Cat", "attribute": "age", "value": 3,
                               "get_attributes": ["id"]})
        self.assertEqual(found, [{"id": "tom"}])
        described = await self.ok({"operation": "describe_table", "table": "Cat"})
        self.assertTrue({"name", "colour", "age"} <= {a["attribute"] for a in described["attributes"]})
        self.assertIn("empty", self.runtime.catalog.database_names())
        await self.refused({"operation": "describe_table", "table": "Gone"}, 404)


class FollowTests(OperationsCase):
    """
    The catalog follows changes of its tables made by another worker process (relayed on
    the change feed).
    """

    def test_relayed_changes(self) -> None:
        """
        A relayed C{hdb_table} write serves the table; its deletion withdraws it.
        """
        record = {"id": "data.Fox", "database": "data", "table": "Fox", "primary_key": "id",
                  "attributes": ["name"], "expiration": None}
        self.runtime.feed.emit([ChangeEvent("system", "hdb_table", "data.Fox", PUT, record, 1.0)])
        self.assertEqual(self.runtime.resources[("data", "Fox")].table.primary_key, "id")
        self.assertIn("Fox", self.runtime.databases.data)
        self.runtime.feed.emit([ChangeEvent("system", "hdb_table", "data.Fox", DELETE, None, 2.0)])
        self.assertNotIn(("data", "Fox"), self.runtime.resources)
        self.assertNotIn("Fox", self.runtime.databases.data)
        self.runtime.feed.emit([ChangeEvent("system", "hdb_database", "zoo", PUT, {"name": "zoo"}, 3.0)])
        self.assertIn("zoo", self.runtime.catalog.databases)

