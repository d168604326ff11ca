# -*- test-case-name: tests.components.test_reload -*-
"""
Tests for L{harper.components.reload}: dev mode's schema reload on a started runtime over a
FileStorage, driven by a L{Clock}.
"""

from __future__ import annotations

import os

from twisted.internet.testing import Clock, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from harper.components.reload import SchemaWatcher
from harper.database.conditions import Condition, Query
from harper.database.query import QueryExecutor, QueryStats
from harper.errors import SchemaError
from harper.service.root import HarperService
from harper.service.tap import Options, build_service
from tests.components.test_loader import runtime_config, start_runtime, write_tree

SCHEMA = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String\n}\n"
WITH_AGE = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String\n  age: Int @indexed\n}\n"


class SchemaWatcherTests(TestCase):
    """
    L{SchemaWatcher} reloads an application's tables when its schema file changes.
    """

    def setUp(self) -> None:
        self.folder = write_tree(self, {"schema.graphql": SCHEMA})
        self.runtime = start_runtime(self, runtime_config(self, [self.folder]))
        self.clock = Clock()
        self.watcher = SchemaWatcher(self.runtime, self.clock, interval=1.0)
        self.watcher.startService()
        self.addCleanup(self.watcher.stopService)
        table = self.runtime.resources[("data", "Dog")].table
        self.runtime.runner.run_blocking(
            lambda txn: [table.put(txn, {"id": str(i), "name": f"d{i}", "age": i % 3}) for i in range(9)]
        )
        self.errors: list[dict] = []
        observer = lambda event: self.errors.append(event) if event.get("log_level").name == "error" else None
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    def edit(self, text: str) -> None:
        """
        Rewrite the schema file with C{text}, with a later modification time.
        """
        path = os.path.join(self.folder, "schema.graphql")
        before = os.stat(path).st_mtime_ns
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.utime(path, ns=(before + 10**9, before + 10**9))

    def find_age(self, age: int) -> tuple[list, QueryStats]:
        """
        The Dog records with C{age}, and what finding them cost.
        """
        table = self.runtime.resources[("data", "Dog")].table
        stats = QueryStats()
        found = self.runtime.runner.run_blocking(
            lambda txn: list(QueryExecutor(txn, table, {}.get, stats).run(Query(Condition("age", "equals", age))))
        )
        return found, stats

    def test_unchanged_schema_is_not_reloaded(self) -> None:
        """
        While the schema files keep their modification time, the tables are not replaced.
        """
        resource = self.runtime.resources[("data", "Dog")]
        self.clock.advance(5)
        self.assertIs(self.runtime.resources[("data", "Dog")], resource)

    def test_new_indexed_attribute(self) -> None:
        """
        A schema edit adding an C{@indexed} attribute serves, after the next poll, a table
        with that attribute and an index over the stored records that queries use; the
        export, the table handles and the records carry over.
        """
        _, before = self.find_age(1)
        self.assertEqual(before.visited, 9)
        self.edit(WITH_AGE)
        self.clock.advance(1)
        resource = self.runtime.resources[("data", "Dog")]
        self.assertIsNotNone(resource.definition.attribute("age"))
        self.assertIn("age", [a.name for a in resource.definition.indexed_attributes])
        found, stats = self.find_age(1)
        self.assertEqual(sorted(record["id"] for record in found), ["1", "4", "7"])
        self.assertEqual(stats.visited, 3)
        self.assertIs(self.runtime.registry.resolve("Dog")[0], resource)
        self.assertIs(self.runtime.http_registry.resolve("Dog")[0], resource)
        self.assertIs(self.runtime.tables.Dog.resource, resource)
        self.assertEqual(self.errors, [])

    def test_broken_schema_keeps_previous_version(self) -> None:
        """
        A schema edit that does not parse is logged as an error naming the file, and the
        previous tables keep serving; fixing the file then reloads it.
        """
        resource = self.runtime.resources[("data", "Dog")]
        self.edit("type Dog @table {\n  id: ID @primaryKey\n  name: Strin\n")
        self.clock.advance(1)
        self.assertEqual(len(self.errors), 1)
        self.assertIn("schema.graphql", formatEvent(self.errors[0]))
        self.assertIs(self.runtime.resources[("data", "Dog")], resource)
        self.assertIs(self.runtime.registry.resolve("Dog")[0], resource)
        self.edit(WITH_AGE)
        self.clock.advance(1)
        self.assertIsNot(self.runtime.resources[("data", "Dog")], resource)
        self.assertEqual(len(self.errors), 1)

    def test_missing_file_keeps_previous_version(self) -> None:
        """
        A schema file that disappears is reported as an error and the tables keep serving.
        """
        resource = self.runtime.resources[("data", "Dog")]
        os.remove(os.path.join(self.folder, "schema.graphql"))
        self.clock.advance(1)
        self.assertEqual(len(self.errors), 1)
        self.assertIs(self.runtime.resources[("data", "Dog")], resource)

    def test_stop_ends_polling(self) -> None:
        """
        Once the watcher stops, no call is left scheduled on the clock.
        """
        self.watcher.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ReloadSchemaTests(TestCase):
    """
    L{Runtime.reload_schema} refuses a schema that would take another application's table or
    export path.
    """

    def test_table_of_another_application(self) -> None:
        """
        Declaring a table another application owns raises L{SchemaError} naming both files,
        and both applications' tables stay as they were.
        """
        first = write_tree(self, {"schema.graphql": SCHEMA})
        second = write_tree(self, {"schema.graphql": "type Cat @table @export {\n  id: ID @primaryKey\n}\n"})
        runtime = start_runtime(self, runtime_config(self, [first, second]))
        dog = runtime.resources[("data", "Dog")]
        application = runtime.applications[1]
        with self.assertRaises(SchemaError) as raised:
            runtime.reload_schema(application, [("other.graphql", SCHEMA)])
        self.assertIn("also declared in", raised.exception.message)
        self.assertIs(runtime.resources[("data", "Dog")], dog)
        self.assertIn(("data", "Cat"), runtime.resources)


class DevModeTests(TestCase):
    """
    C{twistd harper --dev}: debug logging to standard output and a schema watcher.
    """

    def build(self, *arguments: str) -> tuple[str, HarperService]:
        """
        The application folder and the service C{twistd harper ARGUMENTS --app FOLDER} builds.
        """
        folder = write_tree(self, {"schema.graphql": SCHEMA})
        options = Options()
        options.parseOptions([*arguments, "--root", os.path.abspath(self.mktemp()), "--app", folder])
        self.reactor = MemoryReactorClock()
        return folder, build_service(options, self.reactor)

    def test_dev_logging(self) -> None:
        """
        C{--dev} sets the log level to debug (twistd -n already logs to standard output, so
        it does not add a second copy there).
        """
        _, harper = self.build("--dev")
        self.assertTrue(harper.dev)
        self.assertEqual((harper.config.logging.level, harper.config.logging.std_streams), ("debug", False))

    def test_without_dev(self) -> None:
        """
        Without C{--dev}, the configured log settings apply and no schema watcher runs.
        """
        _, harper = self.build()
        self.assertFalse(harper.dev)
        self.assertEqual(harper.config.logging.level, "warn")

    def test_watcher_started(self) -> None:
        """
        A started dev-mode service polls the schema files on its reactor; an explicit
        C{--set} overrides what C{--dev} implies.
        """
        _, harper = self.build("--dev", "--set", "logging.level=info")
        self.assertEqual(harper.config.logging.level, "info")
        harper.startService()
        self.addCleanup(harper.stopService)
        [watcher] = [child for child in harper if isinstance(child, SchemaWatcher)]
        self.assertTrue(watcher.running)
        self.assertIs(watcher.clock, self.reactor)

    def test_export_path_taken(self) -> None:
        """
        Exporting a table at a path another application already serves raises
        L{SchemaError} before anything changes.
        """
        first = write_tree(self, {"schema.graphql": SCHEMA})
        second = write_tree(self, {"schema.graphql": "type Cat @table @export {\n  id: ID @primaryKey\n}\n"})
        runtime = start_runtime(self, runtime_config(self, [first, second]))
        cat = runtime.resources[("data", "Cat")]
        renamed = "type Cat @table(table: \"Kitten\") @export(name: \"Dog\") {\n  id: ID @primaryKey\n}\n"
        with self.assertRaises(SchemaError) as raised:
            runtime.reload_schema(runtime.applications[1], [("cat.graphql", renamed)])
        self.assertIn("/Dog, which is already served", raised.exception.message)
        self.assertIs(runtime.registry.resolve("Cat")[0], cat)
