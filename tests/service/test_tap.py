# -*- test-case-name: tests.service.test_tap -*-
"""
Tests for L{harper.service.tap}: the C{twistd harper} options, the service they build, and
the bad input that stops the daemon before it starts, each with one message naming the
file and the problem.
"""

from __future__ import annotations

import io
import os
import socket
import sys
from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import TestCase
from twisted.web.server import Site
from zope.interface.verify import verifyObject

from harper.errors import ComponentError, ConfigError, SchemaError, StartupError
from harper.service.root import HarperService
from harper.service.tap import Options, build_service, makeService
from tests.service.helpers import KENNEL_CONFIG, write_tree


def parsed(*arguments: str) -> Options:
    """
    L{Options} after parsing C{arguments}.
    """
    options = Options()
    options.parseOptions(list(arguments))
    return options


class OptionsTests(TestCase):
    """
    L{Options}, the command line after C{twistd harper}.
    """

    def test_defaults(self) -> None:
        """
        Without arguments there is no file, no root, no application and no override.
        """
        options = parsed()
        self.assertEqual(
            (options["config"], options["root"], options["app"], options["set"]),
            (None, None, [], []),
        )

    def test_config_and_root(self) -> None:
        """
        C{--config} and C{--root} (or C{-c} and C{-r}) name the file and the data folder.
        """
        self.assertEqual(parsed("--config", "a.yaml", "--root", "data")["config"], "a.yaml")
        self.assertEqual(parsed("--config", "a.yaml", "--root", "data")["root"], "data")
        self.assertEqual(parsed("-c", "b.yaml", "-r", "var")["config"], "b.yaml")
        self.assertEqual(parsed("-c", "b.yaml", "-r", "var")["root"], "var")

    def test_repeatable(self) -> None:
        """
        C{--app} and C{--set} may be given many times; every value is kept, in order.
        """
        options = parsed("--app", "one", "--set", "http.port=1", "--app", "two", "--set", "a.b=c=d")
        self.assertEqual(options["app"], ["one", "two"])
        self.assertEqual(options["set"], ["http.port=1", "a.b=c=d"])

    def test_set_needs_equals(self) -> None:
        """
        C{--set} without C{=} is a usage error that shows the expected form and the value.
        """
        error = self.assertRaises(usage.UsageError, parsed, "--set", "foo")
        self.assertIn("dotted.key=value", str(error))
        self.assertIn("'foo'", str(error))

    def test_options_not_shared(self) -> None:
        """
        Each L{Options} has its own lists of applications and overrides.
        """
        parsed("--app", "one", "--set", "a=1")
        self.assertEqual((Options()["app"], Options()["set"]), ([], []))


class BuildServiceTests(TestCase):
    """
    L{build_service} wires the service, or raises one L{StartupError} listing every problem,
    each naming its file, before anything is opened or listened on.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.root = os.path.abspath(self.mktemp())

    def refused(self, kind: type, *arguments: str) -> str:
        """
        Build with C{arguments}; check it raises C{kind}, opened nothing and listened on
        nothing; return the message.
        """
        options = parsed("--root", self.root, *arguments)
        error = self.assertRaises(kind, build_service, options, self.reactor)
        self.assertTrue(error.message.startswith("harper cannot start:\n  - "))
        self.assertEqual(self.reactor.tcpServers, [])
        self.assertFalse(os.path.exists(self.root))
        return error.message

    def test_malformed_yaml(self) -> None:
        """
        A root configuration that is not YAML is named with the line and column.
        """
        path = os.path.join(write_tree(self, {"harper.yaml": "http:\n  port: [1\n"}), "harper.yaml")
        message = self.refused(ConfigError, "--config", path)
        self.assertIn(f"{path}: line 3, column 1: malformed YAML", message)

    def test_unknown_key(self) -> None:
        """
        An unknown key of the root configuration is named with its file and a suggestion.
        """
        path = os.path.join(write_tree(self, {"harper.yaml": "http:\n  prot: 5\n"}), "harper.yaml")
        message = self.refused(ConfigError, "--config", path)
        self.assertIn(f"{path}: http.prot: unknown key (did you mean 'port'?)", message)

    def test_bad_override(self) -> None:
        """
        A C{--set} with no key is reported as coming from C{--set}.
        """
        message = self.refused(ConfigError, "--set", "=5")
        self.assertIn("--set: '=5': expected dotted.key=value", message)

    def test_unknown_type(self) -> None:
        """
        An attribute of an unknown type is named with the schema file, line and column.
        """
        schema = "type Cat @table {\n  id: ID @primaryKey\n  paws: Paw\n}\n"
        folder = write_tree(self, {"schema.graphql": schema})
        message = self.refused(SchemaError, "--app", folder)
        self.assertIn(f"{folder}/schema.graphql:3:9: Cat.paws: unknown type 'Paw'", message)

    def test_two_primary_keys(self) -> None:
        """
        A table with two C{@primaryKey} attributes is named with both attributes.
        """
        schema = "type Cat @table {\n  id: ID @primaryKey\n  code: String @primaryKey\n}\n"
        folder = write_tree(self, {"schema.graphql": schema})
        message = self.refused(SchemaError, "--app", folder)
        self.assertIn(
            f"{folder}/schema.graphql:3:3: Cat: more than one @primaryKey (id, code)", message
        )

    def test_resources_raise_on_import(self) -> None:
        """
        A resources.py that raises on import is named with the raising line and the error.
        """
        folder = write_tree(self, {"resources.py": "x = 1\n\nraise RuntimeError('boom')\n"})
        message = self.refused(ComponentError, "--app", folder)
        self.assertIn(
            f"{folder}/resources.py, line 3: importing the module raised RuntimeError: boom",
            message,
        )

    def test_missing_application(self) -> None:
        """
        An C{--app} folder that does not exist is named.
        """
        folder = os.path.abspath(self.mktemp())
        message = self.refused(ComponentError, "--app", folder)
        self.assertIn(f"{folder}: the application folder does not exist", message)

    def test_every_problem_at_once(self) -> None:
        """
        Problems in several applications are listed together, one line each.
        """
        first, second = os.path.abspath(self.mktemp()), os.path.abspath(self.mktemp())
        options = parsed("--root", self.root, "--app", first, "--app", second)
        error = self.assertRaises(StartupError, build_service, options, self.reactor)
        self.assertEqual(
            error.problems,
            tuple(f"{path}: the application folder does not exist" for path in (first, second)),
        )

    def test_wired(self) -> None:
        """
        The kennel configuration gives a service that, once started, serves the exported
        tables and the custom resource over HTTP on the configured interface and port.
        """
        # The memory reactor binds nothing: the port number is only recorded.
        options = parsed("--config", KENNEL_CONFIG, "--root", self.root, "--set", "http.port=12345")
        harper = build_service(options, self.reactor)
        self.assertIsInstance(harper, HarperService)
        harper.startService()
        self.addCleanup(harper.stopService)
        [(factory, backlog, interface)] = [
            (factory, backlog, interface)
            for port, factory, backlog, interface in self.reactor.tcpServers
            if port == 12345
        ]
        self.assertEqual((interface, backlog), ("127.0.0.1", socket.SOMAXCONN))
        # The site, behind the http.maxConnections bound.
        self.assertIsInstance(factory.wrappedFactory, Site)
        registry = harper.runtime.registry
        self.assertIs(registry.resolve("Dog/1")[0], harper.runtime.resources[("data", "Dog")])
        self.assertEqual(type(registry.resolve("BreedCensus/1")[0]).__name__, "BreedCensus")
        self.assertEqual(harper.exit_status, 0)


class MakeServiceTests(TestCase):
    """
    L{makeService} and the C{harper} twistd plugin.
    """

    def test_plugin(self) -> None:
        """
        twistd finds a C{harper} service maker whose options are L{Options}.
        """
        [maker] = [each for each in getPlugins(IServiceMaker) if each.tapname == "harper"]
        verifyObject(IServiceMaker, maker)
        self.assertIsInstance(maker.options(), Options)

    def test_service(self) -> None:
        """
        Good options give a L{HarperService} over the configuration they describe.
        """
        root = os.path.abspath(self.mktemp())
        harper = makeService(parsed("--config", KENNEL_CONFIG, "--root", root))
        self.assertIsInstance(harper, HarperService)
        self.assertEqual(harper.config.root_path, root)

    def test_refused(self) -> None:
        """
        Bad input exits with status 1 after writing the one message to standard error.
        """
        errors = io.StringIO()
        self.patch(sys, "stderr", errors)
        folder = os.path.abspath(self.mktemp())
        exit = self.assertRaises(SystemExit, makeService, parsed("--app", folder))
        self.assertEqual(exit.code, 1)
        self.assertEqual(
            errors.getvalue(),
            f"harper cannot start:\n  - {folder}: the application folder does not exist\n",
        )
