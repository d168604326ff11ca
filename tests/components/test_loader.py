# -*- test-case-name: tests.components.test_loader -*-
"""
Tests for L{harper.components.loader} and L{harper.components.application}: finding plugins,
reading an application's config.yaml, loading applications and the files a plugin may see.

The helpers at the top (L{write_tree}, L{runtime_config}, L{start_runtime}) are shared with the
other component tests.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Union

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from harper.components.application import Application
from harper.components.builtin import DEFAULT_APPLICATION_CONFIG
from harper.components.config import HarperConfig, config_from_string
from harper.components.loader import (
    discover_plugins,
    load_application,
    load_applications,
    read_application_config,
)
from harper.components.runtime import Runtime, plan_tables
from harper.errors import ComponentError
from harper.interfaces import IApplicationScope, IHarperPlugin

BUILTIN_NAMES = ["dataLoader", "graphql", "graphqlSchema", "kleinRoutes", "loadEnv", "pyResource", "rest", "roles", "static", "wsgi"]


def write_tree(case: TestCase, files: Mapping[str, Union[str, bytes]]) -> str:
    """
    Write C{files} (relative path to content) into a new temporary folder of C{case}; return
    the folder's absolute real path.
    """
    root = os.path.realpath(case.mktemp())
    os.makedirs(root)
    for name, content in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        with open(path, "wb") as stream:
            stream.write(data)
    return root


def runtime_config(
    case: TestCase, applications: Iterable[Any], packages: Iterable[str] = ()
) -> HarperConfig:
    """
    A root configuration loading C{applications} (paths or C{{path, urlPath}} mappings), with
    a FileStorage in a temporary folder of C{case} and plugins from C{packages}.
    """
    root = os.path.abspath(case.mktemp())
    text = (
        f"rootPath: {root!r}\n"
        "storage: {uri: 'file:'}\n"
        f"applications: {list(applications)!r}\n"
        f"pluginPackages: {list(packages)!r}\n"
    )
    return config_from_string(text, "harper.yaml", base_dir=root, environ={})


def start_runtime(case: TestCase, config: HarperConfig, stop_at_end: bool = True) -> Runtime:
    """
    Load the applications of C{config} and start a L{Runtime} over them.

    :param stop_at_end: stop the runtime when the test ends (else the caller stops it).
    """
    plugins = discover_plugins(config.plugin_packages)
    planned = plan_tables(load_applications(config, plugins))
    runtime = Runtime(config, planned, reactor)
    if stop_at_end:
        case.addCleanup(runtime.stop)
    runtime.start()
    return runtime


@implementer(IHarperPlugin)
class FailingPlugin:
    """
    A plugin that accepts any options and raises C{error} when it sets an application up.
    """

    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def check(self, options: Any) -> list[str]:
        """
        No problems, whatever the options.
        """
        return []

    def handle_application(self, application: Any, options: Any) -> None:
        """
        Raise the error given to the constructor.
        """
        raise self.error


class DiscoverPluginsTests(TestCase):
    """
    L{discover_plugins} finds the built-in plugins and those of plugin packages.
    """

    def test_builtins(self) -> None:
        """
        Without packages, the built-in plugins are found by name, each an L{IHarperPlugin}.
        """
        plugins = discover_plugins([])
        self.assertEqual(sorted(plugins), BUILTIN_NAMES)
        for name, plugin in plugins.items():
            self.assertTrue(verifyObject(IHarperPlugin, plugin))
            self.assertEqual(plugin.name, name)

    def test_unimportable_package(self) -> None:
        """
        A package that cannot be imported is a L{ComponentError} naming the pluginPackages
        entry.
        """
        error = self.assertRaises(ComponentError, discover_plugins, ["no_such_package_here"])
        self.assertEqual(len(error.problems), 1)
        self.assertTrue(
            error.problems[0].startswith("pluginPackages: cannot import no_such_package_here:"),
            error.problems,
        )


class ReadApplicationConfigTests(TestCase):
    """
    L{read_application_config} reads config.yaml or gives the default plugin set.
    """

    def test_absent(self) -> None:
        """
        A folder without config.yaml gets the default plugins: rest, graphqlSchema,
        pyResource and static (a copy that callers may change).
        """
        folder = write_tree(self, {})
        settings = read_application_config(folder)
        self.assertEqual(
            settings,
            {
                "rest": True,
                "graphqlSchema": {"files": "*.graphql"},
                "pyResource": {"files": "resources.py"},
                "static": {"files": "web/**"},
            },
        )
        settings["rest"] = False
        self.assertEqual(DEFAULT_APPLICATION_CONFIG["rest"], True)

    def test_read(self) -> None:
        """
        The plugin keys of config.yaml are returned as written.
        """
        folder = write_tree(self, {"config.yaml": "rest: true\nstatic:\n  urlPath: site\n"})
        self.assertEqual(
            read_application_config(folder), {"rest": True, "static": {"urlPath": "site"}}
        )

    def test_empty(self) -> None:
        """
        An empty config.yaml enables no plugin.
        """
        folder = write_tree(self, {"config.yaml": "# nothing yet\n"})
        self.assertEqual(read_application_config(folder), {})

    def test_malformed(self) -> None:
        """
        Malformed YAML is a L{ComponentError} naming the file, the line and the column.
        """
        folder = write_tree(self, {"config.yaml": "rest: true\nstatic: {files: [a\n"})
        error = self.assertRaises(ComponentError, read_application_config, folder)
        config_file = os.path.join(folder, "config.yaml")
        self.assertEqual(len(error.problems), 1)
        self.assertTrue(
            error.problems[0].startswith(f"{config_file}, line 3, column 1: malformed YAML: "),
            error.problems,
        )

    def test_not_a_mapping(self) -> None:
        """
        A config.yaml that is a list is a L{ComponentError} saying it must be a mapping.
        """
        folder = write_tree(self, {"config.yaml": "- rest\n- static\n"})
        error = self.assertRaises(ComponentError, read_application_config, folder)
        self.assertEqual(
            list(error.problems),
            [f"{folder}/config.yaml: the top level must be a mapping of plugin names"],
        )


class LoadApplicationTests(TestCase):
    """
    L{load_application} checks every plugin's options, then runs the plugins.
    """

    def setUp(self) -> None:
        self.plugins = discover_plugins([])

    def load(self, files: Mapping[str, str], plugins: Any = None) -> Application:
        """
        Load a new application folder holding C{files} with C{plugins} (the built-ins).
        """
        folder = write_tree(self, files)
        return load_application(folder, "", None, plugins or self.plugins)

    def problems(self, files: Mapping[str, str], plugins: Any = None) -> list[str]:
        """
        The problems of the L{ComponentError} that loading C{files} raises.
        """
        error = self.assertRaises(ComponentError, self.load, files, plugins)
        return list(error.problems)

    def test_default_plugins(self) -> None:
        """
        Without config.yaml, the schema, the resources module and the web folder are all
        loaded and REST is on.
        """
        application = self.load({
            "schema.graphql": "type Dog @table @export { id: ID @primaryKey }\n",
            "resources.py": (
                "from harper.resources.base import Resource\n"
                "class Hello(Resource):\n"
                "    pass\n"
            ),
            "web/index.html": "<p>hi</p>\n",
        })
        self.assertTrue(verifyObject(IApplicationScope, application))
        sources = [os.path.basename(source) for source, _ in application.schema_sources]
        self.assertEqual(sources, ["schema.graphql"])
        self.assertEqual([name for name, _ in application.resources], ["Hello"])
        self.assertEqual([path for path, _ in application.http_resources], [""])
        self.assertEqual(application.rest_options, {})

    def test_disabled_plugin(self) -> None:
        """
        A plugin set to C{false} does nothing.
        """
        application = self.load(
            {"config.yaml": "rest: false\nstatic: false\n", "web/index.html": "x"}
        )
        self.assertIsNone(application.rest_options)
        self.assertEqual(application.http_resources, [])

    def test_missing_folder(self) -> None:
        """
        A folder that does not exist is a L{ComponentError} naming it.
        """
        folder = os.path.abspath(self.mktemp())
        error = self.assertRaises(ComponentError, load_application, folder, "", None, self.plugins)
        self.assertEqual(list(error.problems), [f"{folder}: the application folder does not exist"])

    def test_unknown_plugin(self) -> None:
        """
        An unknown key in config.yaml names the file, the key and the known plugins.
        """
        problems = self.problems({"config.yaml": "rest: true\ngreting: {message: hi}\n"})
        self.assertEqual(len(problems), 1)
        self.assertTrue(
            problems[0].endswith(
                "/config.yaml: greting: unknown plugin "
                "(known: dataLoader, graphql, graphqlSchema, kleinRoutes, loadEnv, pyResource, rest, roles, static, wsgi)"
            ),
            problems,
        )

    def test_every_problem(self) -> None:
        """
        The problems of every plugin key are reported together, each naming config.yaml,
        and no plugin runs.
        """
        problems = self.problems({
            "config.yaml": (
                "rest: {lastModified: sometimes}\nstatic: 3\nnope: true\nfailing: true\n"
            ),
        }, {**self.plugins, "failing": FailingPlugin(ValueError("must not run"))})
        self.assertEqual(len(problems), 3, problems)
        self.assertTrue(all("/config.yaml: " in problem for problem in problems), problems)
        self.assertIn("rest.lastModified: invalid value 'sometimes'", problems[0])
        self.assertIn("static: expected true or a mapping of options, got 3", problems[1])
        self.assertIn("nope: unknown plugin", problems[2])

    def test_plugin_raises(self) -> None:
        """
        A plugin that raises an unexpected exception is reported with the file, the plugin
        and the exception, as a L{ComponentError}.
        """
        plugins = {**self.plugins, "failing": FailingPlugin(ValueError("no luck"))}
        problems = self.problems({"config.yaml": "failing: true\n"}, plugins)
        self.assertEqual(len(problems), 1)
        self.assertTrue(
            problems[0].endswith("/config.yaml: plugin failing failed: ValueError: no luck"),
            problems,
        )

    def test_plugin_refuses(self) -> None:
        """
        The problems of a L{ComponentError} a plugin raises are passed on as they are.
        """
        refusal = ComponentError(["failing: the moon is full"])
        plugins = {**self.plugins, "failing": FailingPlugin(refusal)}
        self.assertEqual(
            self.problems({"config.yaml": "failing: true\n"}, plugins),
            ["failing: the moon is full"],
        )


class LoadApplicationsTests(TestCase):
    """
    L{load_applications} loads every application of the configuration.
    """

    def test_url_path(self) -> None:
        """
        An application's C{urlPath} prefixes the paths of its exports.
        """
        folder = write_tree(self, {"config.yaml": "rest: true\n"})
        config = runtime_config(self, [{"path": folder, "urlPath": "/api/v1/"}])
        [application] = load_applications(config, discover_plugins([]))
        self.assertEqual(application.url_path, "api/v1")
        self.assertEqual(application.export_path("Dog"), "api/v1/Dog")

    def test_problems_of_every_application(self) -> None:
        """
        The problems of all applications come in one L{ComponentError}.
        """
        first = write_tree(self, {"config.yaml": "rest: 1\n"})
        second = write_tree(self, {"config.yaml": "[\n"})
        config = runtime_config(self, [first, second])
        error = self.assertRaises(ComponentError, load_applications, config, discover_plugins([]))
        self.assertEqual(len(error.problems), 2, error.problems)
        self.assertTrue(error.problems[0].startswith(first), error.problems)
        self.assertTrue(error.problems[1].startswith(second), error.problems)


class ApplicationFilesTests(TestCase):
    """
    L{Application.files} finds an application's files and nothing outside its folder.
    """

    def setUp(self) -> None:
        self.outside = write_tree(self, {"secret.txt": "s", "inner/secret.txt": "s"})
        self.folder = write_tree(self, {
            "a.graphql": "",
            "b.graphql": "",
            "web/index.html": "",
            "web/css/site.css": "",
        })
        self.application = Application(self.folder, None)

    def names(self, pattern: Any) -> list[str]:
        """
        The application's files matching C{pattern}, relative to its folder.
        """
        return [os.path.relpath(path.path, self.folder) for path in self.application.files(pattern)]

    def test_glob(self) -> None:
        """
        A pattern matches files (not folders), sorted; C{**} recurses.
        """
        self.assertEqual(self.names("*.graphql"), ["a.graphql", "b.graphql"])
        self.assertEqual(self.names("web/**"), ["web/css/site.css", "web/index.html"])
        self.assertEqual(self.names("web"), [])

    def test_list_of_patterns(self) -> None:
        """
        A list of patterns gives each matching file once.
        """
        self.assertEqual(self.names(["a.*", "*.graphql"]), ["a.graphql", "b.graphql"])

    def test_parent_patterns(self) -> None:
        """
        Patterns with C{..} never reach the files next to the application folder.
        """
        sibling = os.path.basename(self.outside)
        self.assertEqual(self.names(f"../{sibling}/*.txt"), [])
        self.assertEqual(self.names("../**/secret.txt"), [])
        self.assertEqual(self.names("web/../../*/secret.txt"), [])

    def test_absolute_patterns(self) -> None:
        """
        An absolute pattern finds nothing outside the application folder.
        """
        self.assertEqual(self.names(os.path.join(self.outside, "*.txt")), [])

    def test_symlink_out(self) -> None:
        """
        A symbolic link inside the folder that points outside it is not followed.
        """
        os.symlink(
            os.path.join(self.outside, "secret.txt"), os.path.join(self.folder, "link.graphql")
        )
        os.symlink(os.path.join(self.outside, "inner"), os.path.join(self.folder, "web", "inner"))
        self.assertEqual(self.names("*.graphql"), ["a.graphql", "b.graphql"])
        self.assertEqual(self.names("web/**"), ["web/css/site.css", "web/index.html"])
