# -*- test-case-name: tests.components.test_builtin -*-
"""
Tests for L{harper.components.builtin}: the options and the behaviour of the built-in
plugins C{rest}, C{graphqlSchema}, C{pyResource}, C{static} and C{dataLoader}.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any, Mapping

from twisted.trial.unittest import TestCase
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from harper.components.application import Application
from harper.components.builtin import BUILTIN_PLUGINS
from harper.components.loader import load_application
from harper.errors import ComponentError
from harper.interfaces import IHarperPlugin
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from tests.components.test_loader import runtime_config, start_runtime, write_tree

PLUGINS = {plugin.name: plugin for plugin in BUILTIN_PLUGINS}


def load(case: TestCase, files: Mapping[str, str]) -> Application:
    """
    Load an application folder holding C{files} with the built-in plugins.
    """
    return load_application(write_tree(case, files), "", None, PLUGINS)


def load_problems(case: TestCase, files: Mapping[str, str]) -> list[str]:
    """
    The problems of the L{ComponentError} loading an application folder with C{files} raises.
    """
    return list(case.assertRaises(ComponentError, load, case, files).problems)


def get(root: Any, path: str) -> tuple[int, bytes]:
    """
    The status and body of a GET of C{path} from the twisted.web resource C{root}.
    """
    request = DummyRequest([segment.encode("utf-8") for segment in path.split("/")])
    body = getChildForRequest(root, request).render(request)
    if body is not NOT_DONE_YET:
        request.write(body)
    return request.responseCode or 200, b"".join(request.written)


class OptionsTests(TestCase):
    """
    Each built-in plugin's C{check} accepts C{true}, C{false} or a mapping of known options
    of the right types.
    """

    def assertProblems(self, name: str, options: Any, expected: list[str]) -> None:
        """
        Plugin C{name} finds the C{expected} problems in C{options}.
        """
        self.assertEqual(PLUGINS[name].check(options), expected)

    def test_interface(self) -> None:
        """
        Every built-in plugin provides L{IHarperPlugin}.
        """
        self.assertEqual(
            sorted(PLUGINS), ["dataLoader", "graphql", "graphqlSchema", "kleinRoutes", "loadEnv", "pyResource", "rest", "roles", "static", "wsgi"]
        )
        for plugin in BUILTIN_PLUGINS:
            self.assertTrue(verifyObject(IHarperPlugin, plugin))

    def test_switches(self) -> None:
        """
        C{true}, C{false} and an empty mapping are valid for every plugin; other scalars are
        not.
        """
        for name in PLUGINS:
            for options in (True, False, {}):
                self.assertProblems(name, options, [])
            expected = f"{name}: expected true or a mapping of options, got"
            self.assertProblems(name, "yes", [f"{expected} 'yes'"])
            self.assertProblems(name, None, [f"{expected} None"])

    def test_rest(self) -> None:
        """
        C{rest} takes the booleans C{lastModified} and C{webSocket}.
        """
        self.assertProblems("rest", {"lastModified": True, "webSocket": False}, [])
        self.assertProblems("rest", {"lastModified": "no", "port": 1}, [
            "rest.lastModified: invalid value 'no'",
            "rest.port: unknown option (known: lastModified, webSocket)",
        ])

    def test_files(self) -> None:
        """
        C{graphqlSchema}, C{pyResource} and C{dataLoader} take C{files}, a glob pattern or a
        list of them.
        """
        for name in ("graphqlSchema", "pyResource", "dataLoader"):
            self.assertProblems(name, {"files": "*.x"}, [])
            self.assertProblems(name, {"files": ["a/*", "b/*"]}, [])
            self.assertProblems(name, {"files": 3}, [f"{name}.files: invalid value 3"])
            self.assertProblems(
                name,
                {"files": ["a", 1]},
                [f"{name}.files: every entry must be a glob pattern string"],
            )
            self.assertProblems(
                name, {"path": "x"}, [f"{name}.path: unknown option (known: files)"]
            )

    def test_static(self) -> None:
        """
        C{static} takes a C{files} pattern, a C{urlPath} string and an C{index} boolean.
        """
        self.assertProblems("static", {"files": "site/**", "urlPath": "kennel", "index": False}, [])
        self.assertProblems("static", {"files": ["a"], "urlPath": 5, "index": "yes"}, [
            "static.files: invalid value ['a']",
            "static.urlPath: invalid value 5",
            "static.index: invalid value 'yes'",
        ])


class GraphQLSchemaTests(TestCase):
    """
    C{graphqlSchema} adds the SDL of the files it matches.
    """

    def test_files(self) -> None:
        """
        Every matching file's text is added, in path order; others are not.
        """
        application = load(self, {
            "config.yaml": "graphqlSchema: {files: 'schema/*.graphql'}\n",
            "schema/b.graphql": "type B @table { id: ID }\n",
            "schema/a.graphql": "type A @table { id: ID }\n",
            "other.graphql": "type C @table { id: ID }\n",
        })
        folder = application.path.path
        sources = application.schema_sources
        self.assertEqual(
            [(os.path.relpath(source, folder), text) for source, text in sources],
            [
                ("schema/a.graphql", "type A @table { id: ID }\n"),
                ("schema/b.graphql", "type B @table { id: ID }\n"),
            ],
        )


RESOURCES = """\
from harper.resources.base import Resource
from tests.testplugins.greeting_plugin import Greeting


class Census(Resource):
    def get(self, target, context):
        return {"count": 3}


class Renamed(Resource):
    export_name = "api/renamed"


class _Hidden(Resource):
    pass


class Plain:
    pass


ALIAS = Census
"""


class PyResourceTests(TestCase):
    """
    C{pyResource} imports modules and exports their L{Resource} subclasses.
    """

    def exports(self, source: str) -> dict[str, Any]:
        """
        The resources a pyResource module with C{source} exports, by path.
        """
        application = load(self, {"config.yaml": "pyResource: true\n", "resources.py": source})
        return dict(application.resources)

    def test_exports(self) -> None:
        """
        Public L{Resource} subclasses defined in the module are served, at their
        C{export_name} or class name; imported, private and other classes are not.
        """
        exports = self.exports(RESOURCES)
        self.assertEqual(sorted(exports), ["Census", "api/renamed"])
        self.assertEqual(exports["Census"].get(RequestTarget(), RequestContext()), {"count": 3})

    def test_all(self) -> None:
        """
        When the module has C{__all__}, only the classes it names are served.
        """
        exports = self.exports(RESOURCES + "__all__ = ['Renamed', 'Plain', 'Greeting']\n")
        self.assertEqual(sorted(exports), ["api/renamed"])

    def test_import_error(self) -> None:
        """
        A module that raises while it is imported is a L{ComponentError} naming the file, the
        line and the exception, and it is not left in C{sys.modules}.
        """
        before = set(sys.modules)
        problems = load_problems(self, {
            "config.yaml": "pyResource: {files: 'lib/*.py'}\n",
            "lib/broken.py": (
                "import os\n\ndef fail():\n    raise RuntimeError('no database')\n\nfail()\n"
            ),
        })
        self.assertEqual(len(problems), 1)
        self.assertRegex(
            problems[0],
            r"^/.*/lib/broken\.py, line 4: importing the module raised RuntimeError: no database$",
        )
        self.assertEqual(set(sys.modules) - before, set())

    def test_syntax_error(self) -> None:
        """
        A module with a syntax error is a L{ComponentError} naming the file and the line.
        """
        problems = load_problems(
            self, {"resources.py": "x = 1\nclass (:\n", "config.yaml": "pyResource: true\n"}
        )
        self.assertEqual(len(problems), 1)
        self.assertRegex(
            problems[0], r"^/.*/resources\.py, line 2: importing the module raised SyntaxError: "
        )

    def test_setup(self) -> None:
        """
        A module-level C{setup(tables)} runs at start with the runtime's tables.
        """
        application = load(self, {
            "config.yaml": "pyResource: true\n",
            "resources.py": "def setup(tables):\n    tables.append('set up')\n",
        })
        self.assertEqual(application.resources, [])
        [callback] = application.start_callbacks
        tables: list[str] = []
        callback(types.SimpleNamespace(tables=tables))
        self.assertEqual(tables, ["set up"])


class StaticTests(TestCase):
    """
    C{static} serves an application's files.
    """

    WEB = {
        "web/index.html": "<h1>kennel</h1>",
        "web/css/site.css": "h1 {}",
        "web/empty/.keep": "",
        "config.yaml": "secret: true",
    }

    def mount(self, options: str) -> tuple[str, Any]:
        """
        The (URL path, resource) the static plugin mounts with C{options}.
        """
        [mount] = load(self, {**self.WEB, "config.yaml": f"static: {options}\n"}).http_resources
        return mount

    def test_serves_files(self) -> None:
        """
        Files of the folder are served at C{urlPath}; a folder serves its C{index.html}.
        """
        url_path, root = self.mount("{urlPath: /kennel/}")
        self.assertEqual(url_path, "kennel")
        self.assertEqual(get(root, "css/site.css"), (200, b"h1 {}"))
        self.assertEqual(get(root, ""), (200, b"<h1>kennel</h1>"))

    def test_refuses_parent(self) -> None:
        """
        C{..} in a path never reaches files outside the served folder.
        """
        _, root = self.mount("true")
        self.assertEqual(get(root, "../config.yaml")[0], 404)
        self.assertEqual(get(root, "css/../../config.yaml")[0], 404)

    def test_no_listing(self) -> None:
        """
        A folder without an index is not listed, and C{index: false} turns index files off.
        """
        _, root = self.mount("true")
        self.assertEqual(get(root, "empty/")[0], 404)
        _, root = self.mount("{index: false}")
        self.assertEqual(get(root, "")[0], 404)

    def test_files_pattern(self) -> None:
        """
        The folder served is the fixed part of the C{files} pattern.
        """
        _, root = self.mount("{files: 'web/css/*'}")
        self.assertEqual(get(root, "site.css"), (200, b"h1 {}"))

    def test_missing_folder(self) -> None:
        """
        Nothing is mounted when the folder does not exist.
        """
        application = load(self, {"config.yaml": "static: {files: 'public/**'}\n"})
        self.assertEqual(application.http_resources, [])

    def test_outside(self) -> None:
        """
        A C{files} pattern that leaves the application folder is a L{ComponentError} naming
        config.yaml.
        """
        for pattern in ("../**", "/etc/**"):
            [problem] = load_problems(self, {"config.yaml": f"static: {{files: '{pattern}'}}\n"})
            self.assertIn(f"/config.yaml: static.files: '{pattern}' must stay inside the application folder", problem)


SCHEMA = "type Breed @table @export { id: Int @primaryKey\n name: String! }\n"
BEAGLE = "table: Breed\nrecords:\n  - {id: 1, name: Beagle}\n"


class DataLoaderTests(TestCase):
    """
    C{dataLoader} seeds records when the runtime starts.
    """

    def application(self, files: Mapping[str, str]) -> str:
        """
        An application folder with the Breed table, the data loader and C{files}.
        """
        return write_tree(self, {
            "config.yaml": "graphqlSchema: true\ndataLoader: true\n",
            "schema.graphql": SCHEMA,
            **files,
        })

    def breeds(self, runtime: Any) -> list[tuple[int, str]]:
        """
        The (id, name) of every stored Breed, in key order.
        """
        table = runtime.resources[("data", "Breed")].table
        return runtime.runner.run_blocking(
            lambda txn: [(entry.value["id"], entry.value["name"]) for entry in table.scan(txn)]
        )

    def test_seeds(self) -> None:
        """
        Records of YAML and JSON files are stored on start.
        """
        folder = self.application({
            "data/breeds.yaml": BEAGLE,
            "data/more.json": (
                '{"table": "Breed", "database": "data", "records": [{"id": 2, "name": "Pug"}]}'
            ),
        })
        runtime = start_runtime(self, runtime_config(self, [folder]))
        self.assertEqual(self.breeds(runtime), [(1, "Beagle"), (2, "Pug")])

    def test_keeps_existing(self) -> None:
        """
        On a later start, records whose key exists are left as they are and new ones are
        added.
        """
        folder = self.application({"data/breeds.yaml": BEAGLE})
        config = runtime_config(self, [folder])
        runtime = start_runtime(self, config, stop_at_end=False)
        try:
            table = runtime.resources[("data", "Breed")].table
            runtime.runner.run_blocking(lambda txn: table.put(txn, {"id": 1, "name": "Renamed"}))
        finally:
            runtime.stop()
        with open(os.path.join(folder, "data", "breeds.yaml"), "a") as stream:
            stream.write("  - {id: 2, name: Pug}\n")
        runtime = start_runtime(self, config)
        self.assertEqual(self.breeds(runtime), [(1, "Renamed"), (2, "Pug")])

    def test_bad_document(self) -> None:
        """
        A file without C{table} and a list of C{records} is a L{ComponentError} naming it.
        """
        [problem] = load_problems(self, {
            "config.yaml": "dataLoader: true\n",
            "data/breeds.yaml": "table: Breed\nrecords: {id: 1}\n",
        })
        self.assertRegex(
            problem, r"^/.*/data/breeds\.yaml: seed data needs 'table' and a list of 'records'$"
        )

    def test_unreadable(self) -> None:
        """
        A seed file that is not valid YAML is a L{ComponentError} naming it.
        """
        [problem] = load_problems(
            self, {"config.yaml": "dataLoader: true\n", "data/breeds.yaml": "table: [\n"}
        )
        self.assertRegex(problem, r"^/.*/data/breeds\.yaml: cannot read seed data: ")

    def test_unknown_table(self) -> None:
        """
        Seeding a table that does not exist stops the start with a L{ComponentError}.
        """
        folder = self.application({"data/dogs.yaml": "table: Dog\nrecords: []\n"})
        config = runtime_config(self, [folder])
        error = self.assertRaises(ComponentError, start_runtime, self, config)
        self.assertRegex(error.problems[0], r"^/.*/data/dogs\.yaml: no table data\.Dog$")

    def test_invalid_record(self) -> None:
        """
        A record that does not match the schema stops the start with a L{ComponentError}
        naming the file and the problem.
        """
        folder = self.application({
            "data/breeds.yaml": "table: Breed\nrecords:\n  - {id: 1, name: Beagle}\n  - {id: 2}\n",
        })
        config = runtime_config(self, [folder])
        error = self.assertRaises(ComponentError, start_runtime, self, config)
        self.assertRegex(
            error.problems[0], r"^/.*/data/breeds\.yaml: Breed\.name: required \(String!\)$"
        )

    def test_keyless_record(self) -> None:
        """
        A seed record without its primary key stops the start: it would be added again at
        every start.
        """
        folder = self.application({"data/breeds.yaml": "table: Breed\nrecords:\n  - {name: Pug}\n"})
        error = self.assertRaises(ComponentError, start_runtime, self, runtime_config(self, [folder]))
        self.assertIn("every seed record needs its id", error.problems[0])


class RestSwitchTests(TestCase):
    """
    C{rest: false} keeps an application's exports off HTTP.
    """

    def test_rest_off(self) -> None:
        """
        Only applications with the rest plugin are in the HTTP registry; all are in the
        registry other interfaces use.
        """
        schema = "type Breed @table @export { id: Int @primaryKey }\n"
        served = write_tree(self, {"config.yaml": "rest: true\ngraphqlSchema: true\n", "schema.graphql": schema})
        hidden = write_tree(self, {
            "config.yaml": "rest: false\ngraphqlSchema: true\n",
            "schema.graphql": schema.replace("Breed", "Secret"),
        })
        runtime = start_runtime(self, runtime_config(self, [served, hidden]))
        self.assertEqual([path for path, _ in runtime.http_registry.items()], ["Breed"])
        self.assertEqual([path for path, _ in runtime.registry.items()], ["Breed", "Secret"])
        runtime.stop()
        runtime.stop()
