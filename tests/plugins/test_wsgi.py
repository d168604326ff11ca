# -*- test-case-name: tests.plugins.test_wsgi -*-
"""
Tests for L{harper.plugins.wsgi}: a Flask application mounted beside REST and static files,
reading and writing tables, over real loopback HTTP.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.components.application import Application
from harper.errors import ComponentError
from harper.plugins.wsgi import WSGIPlugin
from tests.components.test_loader import write_tree
from tests.plugins.helpers import PluginTestCase

FLASK_APP = '''
from flask import Flask, request

from harper.database.conditions import Query, SortKey
from harper.plugins.wsgi import tables, transaction

app = Flask(__name__)


@app.route("/dogs")
def dogs():
    found = tables(request.environ).Dog.search(Query(sort=(SortKey("name"),)))
    return "<ul>" + "".join(f"<li>{dog['name']}</li>" for dog in found) + "</ul>"


@app.route("/dogs/<id>/birthday", methods=["POST"])
def birthday(id):
    def older(context):
        dog = context.tables.Dog.get(id, context)
        context.tables.Dog.patch(id, {"age": dog["age"] + 1}, context)
        return dog["age"] + 1

    return {"age": transaction(request.environ, older), "script": request.script_root}
'''

CONFIG = """rest: true
graphqlSchema: true
static: {files: "web/**", urlPath: site}
wsgi: {module: app.py, urlPath: /web, threads: 2}
"""


class FlaskTests(PluginTestCase):
    """
    A Flask application served by the C{wsgi} plugin.
    """

    files = {"config.yaml": CONFIG, "app.py": FLASK_APP, "web/index.html": "<p>static</p>"}

    @inlineCallbacks
    def test_renders_records(self) -> None:
        """
        A Flask view reads a table and renders its records.
        """
        reply = yield self.request("GET", "/web/dogs")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.body, b"<ul><li>Ace</li><li>Bo</li><li>Cy</li><li>Rex</li></ul>")

    @inlineCallbacks
    def test_transaction(self) -> None:
        """
        C{transaction} runs a read and a write in one transaction; REST sees the write, and
        Flask sees its mount path as its script root.
        """
        reply = yield self.request("POST", "/web/dogs/rex/birthday")
        self.assertEqual(reply.json(), {"age": 4, "script": "/web"})
        rest = yield self.request("GET", "/Dog/rex")
        self.assertEqual(rest.json()["age"], 4)

    @inlineCallbacks
    def test_beside_static_and_rest(self) -> None:
        """
        Static files and REST of the same application keep working; Flask answers its own
        404 for unknown paths under its mount.
        """
        page = yield self.request("GET", "/site/")
        rest = yield self.request("GET", "/Breed/1")
        missing = yield self.request("GET", "/web/nothing")
        self.assertEqual((page.status, page.body), (200, b"<p>static</p>"))
        self.assertEqual(rest.json()["name"], "Beagle")
        self.assertEqual(missing.status, 404)


class WSGIOptionsTests(TestCase):
    """
    The C{wsgi} options are checked before anything starts.
    """

    def test_check(self) -> None:
        """
        C{true} takes the defaults; C{urlPath} may not be the root, and C{threads} must be
        positive.
        """
        plugin = WSGIPlugin()
        self.assertEqual(plugin.check({"module": "app.py", "urlPath": "web"}), [])
        self.assertEqual(plugin.check(True), [])
        problems = plugin.check({"module": "app.py", "urlPath": "/", "threads": 0})
        self.assertEqual(len(problems), 2)
        self.assertIn("wsgi.urlPath", problems[0])
        self.assertIn("wsgi.threads", problems[1])

    def test_missing_callable(self) -> None:
        """
        A module without the named callable, or a missing module, refuses to start with a
        message naming the option.
        """
        folder = write_tree(self, {"app.py": "value = 1\n"})
        application = Application(folder, None)
        plugin = WSGIPlugin()
        error = self.assertRaises(ComponentError, plugin.handle_application, application,
                                  {"module": "app.py", "callable": "value", "urlPath": "web"})
        self.assertIn("wsgi.callable", error.problems[0])
        error = self.assertRaises(ComponentError, plugin.handle_application, application,
                                  {"module": "other.py", "urlPath": "web"})
        self.assertIn("wsgi.module", error.problems[0])
