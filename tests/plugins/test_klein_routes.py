# -*- test-case-name: tests.plugins.test_klein_routes -*-
"""
Tests for L{harper.plugins.klein_routes}: a Klein route module mounted by the
C{kleinRoutes} plugin, over real loopback HTTP.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.components.application import Application
from harper.errors import ComponentError
from harper.plugins.klein_routes import KleinRoutesPlugin
from tests.components.test_loader import write_tree
from tests.plugins.helpers import PluginTestCase

ROUTES = '''
import json

from klein import Klein

from harper.plugins.klein_routes import route_context

app = Klein()


@app.route("/me")
def me(request):
    user = route_context(request).user
    return json.dumps({"user": user.username if user else None})


@app.route("/dogs/<id>/name")
async def name(request, id):
    context = route_context(request)
    dog = await context.tables.Dog.get(id)
    return dog["name"]


@app.route("/rename/<id>", methods=["POST"])
async def rename(request, id):
    def change(context):
        context.tables.Dog.patch(id, {"name": request.content.read().decode()}, context)
        return context.username

    return await route_context(request).run(change)
'''


class KleinRoutesTests(PluginTestCase):
    """
    Klein routes of an application mounted at C{/api}.
    """

    files = {
        "config.yaml": "rest: true\ngraphqlSchema: true\n"
                       "kleinRoutes: {files: routes.py, urlPath: api}\n",
        "routes.py": ROUTES,
    }

    @inlineCallbacks
    def test_authenticated_user(self) -> None:
        """
        A route sees the authenticated user, or C{None} without credentials; bad credentials
        are refused with 401 before any route runs.
        """
        reader = yield self.request("GET", "/api/me")
        anonymous = yield self.request("GET", "/api/me", headers={})
        wrong = yield self.request("GET", "/api/me", headers={"Authorization": "Basic eDp5"})
        self.assertEqual(reader.json(), {"user": "reader"})
        self.assertEqual(anonymous.json(), {"user": None})
        self.assertEqual(wrong.status, 401)

    @inlineCallbacks
    def test_tables_and_transaction(self) -> None:
        """
        A route reads a table, and another writes in a transaction as the user.
        """
        name = yield self.request("GET", "/api/dogs/rex/name")
        renamed = yield self.request("POST", "/api/rename/rex", b"Rexy")
        after = yield self.request("GET", "/Dog/rex")
        self.assertEqual((name.body, renamed.body), (b"Rex", b"reader"))
        self.assertEqual(after.json()["name"], "Rexy")


class KleinOptionsTests(TestCase):
    """
    Mistakes in C{kleinRoutes} options and modules are reported before the start.
    """

    def test_problems(self) -> None:
        """
        C{urlPath} may not be the root; a module without C{app} refuses to start.
        """
        plugin = KleinRoutesPlugin()
        self.assertEqual(plugin.check({"urlPath": "api"}), [])
        self.assertEqual(plugin.check(True), [])
        self.assertIn("kleinRoutes.urlPath", plugin.check({"urlPath": "/"})[0])
        application = Application(write_tree(self, {"routes.py": "app = None\n"}), None)
        error = self.assertRaises(
            ComponentError, plugin.handle_application, application, {"urlPath": "api"}
        )
        self.assertIn("no Klein application", error.problems[0])
