# -*- test-case-name: tests.components.test_plugins -*-
"""
Tests for third-party plugins (L{harper.interfaces.IHarperPlugin}): discovery through
Twisted's plugin system and the worked C{greeting} example of docs/plugins.md, found in the
plugin package C{tests.testplugins}.
"""

from __future__ import annotations

import importlib
import os
import sys

from twisted.plugin import IPlugin
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

import harper
import tests.testplugins
from harper.components.loader import discover_plugins, load_application
from harper.errors import ComponentError
from harper.interfaces import IHarperPlugin
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from tests.components.test_loader import runtime_config, start_runtime, write_tree
from tests.testplugins import greeting_plugin

PACKAGE = "tests.testplugins"
DOCS = os.path.join(os.path.dirname(os.path.dirname(harper.__file__)), "docs", "plugins.md")

IMPOSTERS = '''\
"""
Plugins whose names are taken already.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from harper.interfaces import IHarperPlugin


@implementer(IPlugin, IHarperPlugin)
class Imposter:
    def __init__(self, name):
        self.name = name

    def check(self, options):
        return []

    def handle_application(self, application, options):
        pass


greeting = Imposter("greeting")
rest = Imposter("rest")
'''


def remove_drop_in_caches(package: object) -> None:
    """
    Remove the C{dropin.cache} files Twisted wrote into the folders of a plugin package.
    """
    for folder in package.__path__:
        cache = os.path.join(folder, "dropin.cache")
        if os.path.exists(cache):
            os.remove(cache)


class PluginTestCase(TestCase):
    """
    Leaves no C{dropin.cache} in the repository's test plugin package.
    """

    def setUp(self) -> None:
        self.addCleanup(remove_drop_in_caches, tests.testplugins)


class DiscoveryTests(PluginTestCase):
    """
    L{discover_plugins} finds the plugins of a Twisted plugin package.
    """

    def test_found(self) -> None:
        """
        The C{greeting} object of the test package is found by name, next to the built-ins;
        it provides L{IPlugin} and L{IHarperPlugin}.
        """
        plugins = discover_plugins([PACKAGE])
        self.assertIs(plugins["greeting"], greeting_plugin.greeting)
        self.assertEqual(len(plugins), 11)
        self.assertTrue(verifyObject(IHarperPlugin, plugins["greeting"]))
        self.assertTrue(IPlugin.providedBy(plugins["greeting"]))

    def test_same_package_twice(self) -> None:
        """
        Naming a package twice finds each plugin once, without an error.
        """
        twice = discover_plugins([PACKAGE, PACKAGE])
        self.assertEqual(sorted(twice), sorted(discover_plugins([PACKAGE])))

    def test_same_name(self) -> None:
        """
        A plugin named like a built-in or a plugin of an earlier package is a
        L{ComponentError} naming the package and the name.
        """
        folder = write_tree(self, {
            "imposters_plugins/__init__.py": '"""\n"""\n',
            "imposters_plugins/imposters.py": IMPOSTERS,
        })
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
        self.addCleanup(sys.path.remove, folder)
        for name in ("imposters_plugins", "imposters_plugins.imposters"):
            self.addCleanup(sys.modules.pop, name, None)
        error = self.assertRaises(ComponentError, discover_plugins, [PACKAGE, "imposters_plugins"])
        self.assertEqual(sorted(error.problems), [
            "imposters_plugins: a second plugin is named 'greeting'",
            "imposters_plugins: a second plugin is named 'rest'",
        ])


class GreetingTests(PluginTestCase):
    """
    The worked example: an application enables C{greeting} in its config.yaml.
    """

    def test_served(self) -> None:
        """
        An application using C{greeting:} loads, and its resource, called through a started
        runtime, answers GET with the configured message.
        """
        folder = write_tree(self, {"config.yaml": "rest: true\ngreeting:\n  message: Woof!\n"})
        runtime = start_runtime(self, runtime_config(self, [folder], [PACKAGE]))
        resource, remainder = runtime.registry.resolve("greeting")
        self.assertIsNone(remainder)
        d = runtime.caller.call("get", resource, RequestTarget(), RequestContext())
        return d.addCallback(self.assertEqual, {"message": "Woof!"})

    def test_path(self) -> None:
        """
        The C{path} option and the application's C{urlPath} choose where it is served.
        """
        folder = write_tree(self, {"config.yaml": "greeting: {message: hi, path: welcome}\n"})
        config = runtime_config(self, [{"path": folder, "urlPath": "/hello"}], [PACKAGE])
        runtime = start_runtime(self, config)
        resource, _ = runtime.registry.resolve("hello/welcome")
        self.assertEqual(resource.message, "hi")

    def problems(self, config_yaml: str) -> tuple[str, list[str]]:
        """
        The config.yaml path and the problems of loading an application with C{config_yaml}
        and the test package's plugins.
        """
        folder = write_tree(self, {"config.yaml": config_yaml})
        plugins = discover_plugins([PACKAGE])
        error = self.assertRaises(ComponentError, load_application, folder, "", None, plugins)
        return os.path.join(folder, "config.yaml"), list(error.problems)

    def test_invalid_message(self) -> None:
        """
        A message that is not a string is a L{ComponentError} naming config.yaml and the key.
        """
        config_file, problems = self.problems("greeting: {message: [1, 2]}\n")
        self.assertEqual(
            problems, [f"{config_file}: greeting.message: expected a string, got [1, 2]"]
        )

    def test_invalid_options(self) -> None:
        """
        A missing message, unknown options and options that are not a mapping are reported.
        """
        config_file, problems = self.problems("greeting: {text: hi}\n")
        self.assertEqual(problems, [
            f"{config_file}: greeting.text: unknown option (known: message, path)",
            f"{config_file}: greeting.message: required",
        ])
        config_file, problems = self.problems("greeting: true\n")
        self.assertEqual(problems, [
            f"{config_file}: greeting: expected a mapping such as {{message: Hello}}, got True",
        ])

    def test_unknown_key(self) -> None:
        """
        A misspelt key is an unknown plugin, and the known ones include C{greeting}.
        """
        config_file, problems = self.problems("greetings: {message: hi}\n")
        self.assertEqual(problems, [
            f"{config_file}: greetings: unknown plugin "
            "(known: dataLoader, graphql, graphqlSchema, greeting, kleinRoutes, loadEnv, pyResource, rest, roles, static, wsgi)",
        ])

    def test_package_not_configured(self) -> None:
        """
        Without its plugin package in C{pluginPackages}, C{greeting} is an unknown plugin.
        """
        folder = write_tree(self, {"config.yaml": "greeting: {message: hi}\n"})
        builtins = discover_plugins([])
        error = self.assertRaises(ComponentError, load_application, folder, "", None, builtins)
        self.assertIn("greeting: unknown plugin", error.problems[0])

    def test_documented(self) -> None:
        """
        docs/plugins.md shows the example plugin's module exactly as the tests run it.
        """
        with open(greeting_plugin.__file__, encoding="utf-8") as stream:
            source = stream.read()
        with open(DOCS, encoding="utf-8") as stream:
            docs = stream.read()
        self.assertTrue(
            f"```python\n{source}```\n" in docs, "docs/plugins.md does not show greeting_plugin.py"
        )
