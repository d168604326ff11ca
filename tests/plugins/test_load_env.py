# -*- test-case-name: tests.plugins.test_load_env -*-
"""
Tests for L{harper.plugins.load_env} and L{harper.plugins.base}: parsing C{.env} files, and
the variables reaching the modules of the plugins after C{loadEnv} in config.yaml.
"""

from __future__ import annotations

import os

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.errors import ComponentError
from harper.plugins.load_env import load_env, parse_env
from tests.plugins.helpers import PluginTestCase

ROUTES = '''
import os

from klein import Klein

GREETING = os.environ["HARPER_TEST_GREETING"]
app = Klein()


@app.route("/")
def greeting(request):
    return GREETING
'''


class ParseTests(TestCase):
    """
    L{parse_env} and L{load_env}.
    """

    def test_forms(self) -> None:
        """
        Plain, exported, quoted and commented lines give their values, in order.
        """
        text = "# comment\n\nA=1\nexport B = two words # note\nC='x # y'\nD=\"a\\nb\\\"c\"\nE=\n"
        self.assertEqual(
            list(parse_env(text, ".env").items()),
            [("A", "1"), ("B", "two words"), ("C", "x # y"), ("D", 'a\nb"c'), ("E", "")],
        )

    def test_bad_lines(self) -> None:
        """
        Every line that is not a variable is reported with its number.
        """
        text = "A=1\nnot a variable\nB='open\n"
        error = self.assertRaises(ComponentError, parse_env, text, "/app/.env")
        self.assertEqual(list(error.problems), [
            "/app/.env, line 2: expected KEY=value",
            "/app/.env, line 3: expected KEY=value",
        ])

    def test_override(self) -> None:
        """
        Variables already set are kept unless C{override}.
        """
        environ = {"A": "old"}
        self.assertEqual(load_env("A=new\nB=b\n", ".env", environ), ["B"])
        self.assertEqual(environ, {"A": "old", "B": "b"})
        load_env("A=new\n", ".env", environ, override=True)
        self.assertEqual(environ["A"], "new")


class BeforeOtherPluginsTests(PluginTestCase):
    """
    C{loadEnv} first in config.yaml: a route module reads the variable when it is imported.
    """

    files = {
        "config.yaml": "loadEnv: {files: .env}\nrest: true\ngraphqlSchema: true\n"
                       "kleinRoutes: {urlPath: hello}\n",
        ".env": "HARPER_TEST_GREETING='hello from .env'\n",
        "routes.py": ROUTES,
    }

    def setUp(self):
        self.addCleanup(os.environ.pop, "HARPER_TEST_GREETING", None)
        return super().setUp()

    @inlineCallbacks
    def test_variable_served(self) -> None:
        """
        The route serves the value of the variable from the application's C{.env}.
        """
        reply = yield self.request("GET", "/hello/")
        self.assertEqual(reply.body, b"hello from .env")
