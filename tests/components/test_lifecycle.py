# -*- test-case-name: tests.components.test_lifecycle -*-
"""
Tests for L{harper.components.lifecycle} and the runtime's application lifecycle
(L{Runtime.install_application}, L{Runtime.remove_application}): applications loaded,
reloaded and removed in a started runtime over a FileStorage, and
L{harper.service.mounts.RemountingRoot} serving what changed over a loopback socket.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from harper.components.config import config_from_string
from harper.components.lifecycle import Applications
from harper.components.loader import discover_plugins, load_applications
from harper.components.runtime import Runtime, plan_tables
from harper.errors import ComponentError, SchemaError, StartupError
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.service.mounts import RemountingRoot
from tests.components.test_loader import write_tree
from tests.http.helpers import SocketClient, rest_api

DOG = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String\n}\n"
DOG_WITH_AGE = "type Dog @table @export {\n  id: ID @primaryKey\n  name: String\n  age: Int @indexed\n}\n"
CAT = "type Cat @table @export {\n  id: ID @primaryKey\n}\n"
CONFIG = "rest: true\ngraphqlSchema: {files: '*.graphql'}\npyResource: {files: resources.py}\nstatic: {files: 'web/**', urlPath: site}\n"


def greeting(word: str) -> str:
    """
    A resource module whose C{Greeting} answers C{{"greeting": word}}.
    """
    return (
        "from harper.resources.base import Resource\n\n"
        "class Greeting(Resource):\n"
        "    def get(self, target, context):\n"
        f"        return {{'greeting': {word!r}}}\n"
    )


#: What the counting plugin saw: ("start" | "stop", application folder name, generation).
EVENTS: list[tuple[str, str, int]] = []


@implementer(IHarperPlugin)
class CountingPlugin:
    """
    A plugin that only uses L{IApplicationScope}: it records each start and stop of every
    version of the applications that enable it, and fails to start when told to.
    """

    name = "counting"
    generation = 0

    def check(self, options: Any) -> list[str]:
        return []

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        CountingPlugin.generation += 1
        generation = CountingPlugin.generation

        def start(runtime: Any) -> None:
            EVENTS.append(("start", application.name, generation))
            if options == "fail":
                raise RuntimeError("the start callback broke")

        application.on_start(start)
        application.on_stop(lambda: EVENTS.append(("stop", application.name, generation)))


def start(case: TestCase, folders: list[str]) -> Applications:
    """
    A started runtime (local requests are super user) over the applications in C{folders},
    with the built-in plugins and L{CountingPlugin}; stopped when the test ends.
    """
    root = os.path.abspath(case.mktemp())
    text = (
        f"rootPath: {root!r}\nstorage: {{uri: 'file:', threadPoolSize: 2}}\n"
        f"applications: {folders!r}\nauthentication: {{authorizeLocal: true}}\n"
    )
    config = config_from_string(text, "harper.yaml", base_dir=root, environ={})
    plugins = {**discover_plugins(()), "counting": CountingPlugin()}
    runtime = Runtime(config, plan_tables(load_applications(config, plugins)), reactor)
    case.addCleanup(runtime.stop)
    runtime.start()
    del EVENTS[:]
    return Applications(runtime, plugins)


def edit(folder: str, name: str, text: str) -> None:
    """
    Write C{text} to C{name} in C{folder}.
    """
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


class ReloadTests(TestCase):
    """
    L{Applications.reload} serves a new version of an application only once it loaded
    completely.
    """

    def setUp(self) -> None:
        self.folder = write_tree(self, {
            "config.yaml": CONFIG, "schema.graphql": DOG, "resources.py": greeting("hello"),
            "web/index.html": "one",
        })
        self.other = write_tree(self, {"config.yaml": "rest: true\ngraphqlSchema: true\n", "cat.graphql": CAT})
        self.applications = start(self, [self.folder, self.other])
        self.runtime = self.applications.runtime
        self.application = self.applications.find(self.folder)

    def greeting(self) -> Any:
        resource, _ = self.runtime.registry.resolve("Greeting")
        return resource.get(None, None)

    def test_schema_change(self) -> None:
        """
        A new C{@indexed} attribute migrates (with its index over the stored records), and a
        new schema file matched by the glob adds its table.
        """
        table = self.runtime.resources[("data", "Dog")].table
        self.runtime.runner.run_blocking(lambda txn: table.put(txn, {"id": "rex", "name": "Rex", "age": 3}))
        edit(self.folder, "schema.graphql", DOG_WITH_AGE)
        edit(self.folder, "more.graphql", "type Bird @table @export {\n  id: ID @primaryKey\n}\n")
        reloaded = self.applications.reload(self.application)
        dog = self.runtime.resources[("data", "Dog")]
        self.assertIn("age", [attribute.name for attribute in dog.definition.indexed_attributes])
        self.assertIn(("data", "Bird"), self.runtime.resources)
        self.assertIs(self.runtime.registry.resolve("Bird")[0], self.runtime.resources[("data", "Bird")])
        self.assertIs(self.runtime.tables.Dog.resource, dog)
        self.assertIn(reloaded, self.runtime.applications)
        self.assertNotIn(self.application, self.runtime.applications)

    def test_python_module_reimported(self) -> None:
        """
        A changed resource module is imported again: the new class serves.
        """
        self.assertEqual(self.greeting(), {"greeting": "hello"})
        edit(self.folder, "resources.py", greeting("bonjour"))
        self.applications.reload(self.application)
        self.assertEqual(self.greeting(), {"greeting": "bonjour"})

    def assert_previous_serves(self, problem: str, error: type = StartupError) -> None:
        """
        Reloading raises C{error} mentioning C{problem}; the previous version keeps serving
        entirely (tables, exports, resources) and the other application is untouched.
        """
        dog = self.runtime.resources[("data", "Dog")]
        cat = self.runtime.resources[("data", "Cat")]
        with self.assertRaises(error) as raised:
            self.applications.reload(self.application)
        self.assertIn(problem, raised.exception.message)
        self.assertEqual(self.runtime.applications, [self.application, self.applications.find(self.other)])
        self.assertIs(self.runtime.resources[("data", "Dog")], dog)
        self.assertIs(self.runtime.registry.resolve("Dog")[0], dog)
        self.assertIs(self.runtime.tables.Dog.resource, dog)
        self.assertIs(self.runtime.resources[("data", "Cat")], cat)
        self.assertEqual(self.greeting(), {"greeting": "hello"})

    def test_python_syntax_error(self) -> None:
        """
        A resource module that does not compile is reported with its file and line.
        """
        edit(self.folder, "resources.py", greeting("bonjour") + "def broken(:\n")
        self.assert_previous_serves("resources.py, line 6")

    def test_invalid_schema(self) -> None:
        """
        A schema that does not parse is reported with its file; the module change made at the
        same time does not serve either.
        """
        edit(self.folder, "resources.py", greeting("bonjour"))
        edit(self.folder, "schema.graphql", "type Dog @table {\n  id: ID @primaryKey\n  name: Strin\n")
        self.assert_previous_serves("schema.graphql", SchemaError)

    def test_bad_config(self) -> None:
        """
        A config.yaml that is not YAML, or names an unknown plugin, is reported.
        """
        edit(self.folder, "config.yaml", "rest: [true\n")
        self.assert_previous_serves("malformed YAML")
        edit(self.folder, "config.yaml", "rest: true\nnoSuchPlugin: true\n")
        self.assert_previous_serves("unknown plugin")

    def test_table_of_another_application(self) -> None:
        """
        Declaring a table another application owns is refused, naming both files.
        """
        edit(self.folder, "cat.graphql", CAT)
        self.assert_previous_serves("also declared in", SchemaError)

    def test_export_path_taken(self) -> None:
        """
        Exporting at a path another application serves is refused.
        """
        edit(self.folder, "schema.graphql", DOG + 'type Kitten @table @export(name: "Cat") {\n  id: ID @primaryKey\n}\n')
        self.assert_previous_serves("/Cat, which is already served", SchemaError)


class StartStopTests(TestCase):
    """
    The start and stop callbacks of the versions of an application.
    """

    def setUp(self) -> None:
        self.folder = write_tree(self, {"config.yaml": "counting: true\ngraphqlSchema: true\n", "schema.graphql": DOG})
        self.applications = start(self, [self.folder])
        self.runtime = self.applications.runtime
        self.first = self.applications.find(self.folder)
        self.generation = CountingPlugin.generation

    def test_replaced_version_stops(self) -> None:
        """
        A reload starts the new version and then stops the previous one.
        """
        self.applications.reload(self.first)
        name = self.first.name
        self.assertEqual(EVENTS, [("start", name, self.generation + 1), ("stop", name, self.generation)])

    def test_failed_start_restores_previous(self) -> None:
        """
        When a start callback of the new version fails, the new version is stopped and the
        previous one serves again, exports and tables included.
        """
        dog = self.runtime.resources[("data", "Dog")]
        edit(self.folder, "config.yaml", "counting: fail\ngraphqlSchema: true\n")
        edit(self.folder, "schema.graphql", DOG_WITH_AGE)
        with self.assertRaises(ComponentError) as raised:
            self.applications.reload(self.first)
        self.assertIn("the start callback broke", raised.exception.message)
        name = self.first.name
        self.assertEqual(EVENTS, [("start", name, self.generation + 1), ("stop", name, self.generation + 1)])
        self.assertEqual(self.runtime.applications, [self.first])
        self.assertIs(self.runtime.resources[("data", "Dog")], dog)
        self.assertIs(self.runtime.registry.resolve("Dog")[0], dog)
        self.assertIs(self.runtime.tables.Dog.resource, dog)

    def test_remove(self) -> None:
        """
        A removed application stops, and its exports and tables are no longer served; its
        records stay stored and serve again when it is loaded again.
        """
        table = self.runtime.resources[("data", "Dog")].table
        self.runtime.runner.run_blocking(lambda txn: table.put(txn, {"id": "rex", "name": "Rex"}))
        self.applications.remove(self.first)
        self.assertEqual(EVENTS, [("stop", self.first.name, self.generation)])
        self.assertEqual(self.runtime.applications, [])
        self.assertNotIn(("data", "Dog"), self.runtime.resources)
        self.assertNotIn("Dog", self.runtime.tables.namespace("data"))
        self.assertEqual(self.runtime.registry.items(), [])
        self.applications.load(self.folder)
        table = self.runtime.resources[("data", "Dog")].table
        self.assertEqual(self.runtime.runner.run_blocking(lambda txn: table.get(txn, "rex"))["name"], "Rex")

    def test_runtime_stop(self) -> None:
        """
        Stopping the runtime stops every application.
        """
        self.runtime.stop()
        self.assertEqual(EVENTS, [("stop", self.first.name, self.generation)])


class RemountTests(TestCase):
    """
    Over a loopback socket, L{RemountingRoot} serves the routes, static files and REST
    exports of the applications as they are now.
    """

    def setUp(self) -> None:
        self.folder = write_tree(self, {
            "config.yaml": CONFIG, "schema.graphql": DOG, "resources.py": greeting("hello"),
            "web/index.html": "one",
        })
        self.applications = start(self, [])
        self.runtime = self.applications.runtime
        self.client = SocketClient(self, RemountingRoot(rest_api(self.runtime), self.runtime))

    @inlineCallbacks
    def get(self, path: str) -> Any:
        reply = yield self.client.request("GET", path, headers={"Accept": "application/json"})
        return reply.status, reply.body

    @inlineCallbacks
    def test_load_reload_remove(self) -> None:
        """
        A loaded application serves its REST exports and static files; after a reload the
        new module and the new static folder serve; once removed, nothing of it does.
        """
        self.assertEqual((yield self.get("/site/index.html"))[0], 404)
        application = self.applications.load(self.folder)
        self.assertEqual((yield self.get("/site/index.html")), (200, b"one"))
        status, body = yield self.get("/Greeting")
        self.assertEqual((status, json.loads(body)), (200, {"greeting": "hello"}))
        edit(self.folder, "resources.py", greeting("bonjour"))
        edit(self.folder, "config.yaml", CONFIG.replace("urlPath: site", "urlPath: pages"))
        application = self.applications.reload(application)
        status, body = yield self.get("/Greeting")
        self.assertEqual((status, json.loads(body)), (200, {"greeting": "bonjour"}))
        self.assertEqual((yield self.get("/pages/index.html")), (200, b"one"))
        self.assertEqual((yield self.get("/site/index.html"))[0], 404)
        self.applications.remove(application)
        self.assertEqual((yield self.get("/pages/index.html"))[0], 404)
        self.assertEqual((yield self.get("/Greeting"))[0], 404)

    @inlineCallbacks
    def test_route_modules_reimported(self) -> None:
        """
        A reload imports C{kleinRoutes} and C{wsgi} modules afresh and mounts the new code;
        the replaced WSGI mount stops serving (its thread pool is stopped).
        """
        routes = "from klein import Klein\n\napp = Klein()\n\n@app.route('/hi')\ndef hi(request):\n    return {word!r}\n"
        wsgi = ("def app(environ, start_response):\n"
                "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [{word!r}]\n")
        folder = write_tree(self, {
            "config.yaml": "kleinRoutes: {files: routes.py, urlPath: api}\nwsgi: {module: app.py, urlPath: web}\n",
            "routes.py": routes.format(word="one"), "app.py": wsgi.format(word=b"one"),
        })
        application = self.applications.load(folder)
        self.assertEqual((yield self.get("/api/hi")), (200, b"one"))
        self.assertEqual((yield self.get("/web/")), (200, b"one"))
        [old_wsgi] = [resource for path, resource in application.http_resources if path == "web"]
        edit(folder, "routes.py", routes.format(word="two"))
        edit(folder, "app.py", wsgi.format(word=b"two"))
        self.applications.reload(application)
        self.assertEqual((yield self.get("/api/hi")), (200, b"two"))
        self.assertEqual((yield self.get("/web/")), (200, b"two"))
        self.assertIsNone(old_wsgi.runtime)
