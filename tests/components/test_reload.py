# -*- test-case-name: tests.components.test_reload -*-
"""
Tests for L{harper.components.reload}: dev mode's watcher reloads an application of a
started runtime over a FileStorage when any of its files changes, driven by a L{Clock}.
"""

from __future__ import annotations

import os

from twisted.internet.testing import Clock, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from harper.components.reload import ApplicationWatcher, snapshot
from harper.database.conditions import Condition, Query
from harper.database.query import QueryExecutor, QueryStats
from harper.service.root import HarperService
from harper.service.tap import Options, build_service
from tests.components.test_lifecycle import greeting, start
from tests.components.test_loader import write_tree

SCHEMA = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String\n}\n"
WITH_AGE = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String\n  age: Int @indexed\n}\n"


class SnapshotTests(TestCase):
    """
    L{snapshot} identifies the version of every file of a folder.
    """

    def test_files(self) -> None:
        """
        Every file, in sub-folders too, is listed by relative path; caches are not.
        """
        folder = write_tree(self, {"a.py": "1", "web/b.html": "22", "__pycache__/a.pyc": "x", ".env": "A=1"})
        found = snapshot(folder)
        self.assertEqual(sorted(found), [".env", "a.py", os.path.join("web", "b.html")])
        self.assertEqual(found["web/b.html"][1], 2)


class ApplicationWatcherTests(TestCase):
    """
    L{ApplicationWatcher} reloads an application when one of its files changes.
    """

    def setUp(self) -> None:
        self.folder = write_tree(self, {"schema.graphql": SCHEMA, "resources.py": greeting("hello")})
        self.applications = start(self, [self.folder])
        self.runtime = self.applications.runtime
        self.clock = Clock()
        self.watcher = ApplicationWatcher(self.applications, self.clock, interval=1.0)
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

    def edit(self, name: str, text: str) -> None:
        """
        Rewrite file C{name} with C{text}, with a later modification time.
        """
        path = os.path.join(self.folder, name)
        before = os.stat(path).st_mtime_ns if os.path.exists(path) else 0
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

    def greeting(self) -> dict:
        resource, _ = self.runtime.registry.resolve("Greeting")
        return resource.get(None, None)

    def test_unchanged_files_are_not_reloaded(self) -> None:
        """
        While the files keep their modification times, the application is not replaced.
        """
        application = self.runtime.applications[0]
        self.clock.advance(5)
        self.assertIs(self.runtime.applications[0], application)

    def test_new_indexed_attribute(self) -> None:
        """
        A schema edit adding an C{@indexed} attribute serves, after the next poll, a table
        with that attribute and an index over the stored records that queries use; the
        export, the table handles and the records carry over.
        """
        _, before = self.find_age(1)
        self.assertEqual(before.visited, 9)
        self.edit("schema.graphql", WITH_AGE)
        self.clock.advance(1)
        resource = self.runtime.resources[("data", "Dog")]
        self.assertIn("age", [a.name for a in resource.definition.indexed_attributes])
        found, stats = self.find_age(1)
        self.assertEqual(sorted(record["id"] for record in found), ["1", "4", "7"])
        self.assertEqual(stats.visited, 3)
        self.assertIs(self.runtime.registry.resolve("Dog")[0], resource)
        self.assertIs(self.runtime.http_registry.resolve("Dog")[0], resource)
        self.assertIs(self.runtime.tables.Dog.resource, resource)
        self.assertEqual(self.errors, [])

    def test_python_module(self) -> None:
        """
        Editing a resource module serves the new code after the next poll.
        """
        self.edit("resources.py", greeting("bonjour"))
        self.clock.advance(1)
        self.assertEqual(self.greeting(), {"greeting": "bonjour"})

    def test_new_file(self) -> None:
        """
        A new file matched by a plugin's glob is loaded.
        """
        self.edit("birds.graphql", "type Bird @table @export {\n  id: ID @primaryKey\n}\n")
        self.clock.advance(1)
        self.assertIn(("data", "Bird"), self.runtime.resources)

    def test_broken_edits_keep_previous_version(self) -> None:
        """
        A schema that does not parse, or a module that does not compile, is logged as an
        error naming the file, and the previous version keeps serving; fixing the file then
        reloads it.
        """
        resource = self.runtime.resources[("data", "Dog")]
        self.edit("schema.graphql", "type Dog @table {\n  id: ID @primaryKey\n  name: Strin\n")
        self.clock.advance(1)
        self.edit("resources.py", "def broken(:\n")
        self.clock.advance(1)
        self.assertEqual(len(self.errors), 2)
        self.assertIn("schema.graphql", formatEvent(self.errors[0]))
        self.assertIn("resources.py, line 1", formatEvent(self.errors[1]))
        self.assertIs(self.runtime.resources[("data", "Dog")], resource)
        self.assertIs(self.runtime.registry.resolve("Dog")[0], resource)
        self.assertEqual(self.greeting(), {"greeting": "hello"})
        self.edit("schema.graphql", WITH_AGE)
        self.edit("resources.py", greeting("hi"))
        self.clock.advance(1)
        self.assertIsNot(self.runtime.resources[("data", "Dog")], resource)
        self.assertEqual(self.greeting(), {"greeting": "hi"})
        self.assertEqual(len(self.errors), 2)

    def test_missing_file_keeps_previous_version(self) -> None:
        """
        A deleted module that config.yaml needs is reported and the application keeps
        serving.
        """
        self.edit("config.yaml", "rest: true\ngraphqlSchema: true\nwsgi: {module: app.py}\n")
        self.clock.advance(1)
        self.assertEqual(len(self.errors), 1)
        self.assertIn("app.py", formatEvent(self.errors[0]))
        self.assertEqual(self.greeting(), {"greeting": "hello"})

    def test_new_application_watched(self) -> None:
        """
        An application loaded while the watcher runs is not reloaded on the next check, but
        is when its files change.
        """
        other = write_tree(self, {"cat.graphql": "type Cat @table @export {\n  id: ID @primaryKey\n}\n"})
        loaded = self.applications.load(other)
        self.clock.advance(1)
        self.assertIs(self.applications.find(other), loaded)
        with open(os.path.join(other, "cat.graphql"), "a") as stream:
            stream.write("type Bird @table @export {\n  id: ID @primaryKey\n}\n")
        self.clock.advance(1)
        self.assertIsNot(self.applications.find(other), loaded)
        self.assertIn(("data", "Bird"), self.runtime.resources)

    def test_stop_ends_polling(self) -> None:
        """
        Once the watcher stops, no call is left scheduled on the clock.
        """
        self.watcher.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DevModeTests(TestCase):
    """
    C{twistd harper --dev}: debug logging to standard output and an application watcher.
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
        Without C{--dev}, the configured log settings apply and no watcher runs.
        """
        _, harper = self.build()
        self.assertFalse(harper.dev)
        self.assertEqual(harper.config.logging.level, "warn")

    def test_watcher_started(self) -> None:
        """
        A started dev-mode service polls the application files on its reactor; an explicit
        C{--set} overrides what C{--dev} implies.
        """
        _, harper = self.build("--dev", "--set", "logging.level=info")
        self.assertEqual(harper.config.logging.level, "info")
        harper.startService()
        self.addCleanup(harper.stopService)
        [watcher] = [child for child in harper if isinstance(child, ApplicationWatcher)]
        self.assertTrue(watcher.running)
        self.assertIs(watcher.clock, self.reactor)
