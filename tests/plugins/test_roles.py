# -*- test-case-name: tests.plugins.test_roles -*-
"""
Tests for L{harper.plugins.roles}: reading roles files, and roles created or updated on
start, then enforced by REST over real loopback HTTP.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from harper.errors import ComponentError
from harper.plugins.roles import apply_roles, read_roles
from tests.plugins.helpers import PluginTestCase, basic

ROLES = """
walker:
  data:
    Dog: {read: true, attributes: {name: {read: true, update: false}}}
"""


class ReadRolesTests(TestCase):
    """
    L{read_roles} turns the component role shape into permission documents.
    """

    def test_shape(self) -> None:
        """
        Databases map tables to verbs; C{attributes} become C{attribute_permissions}.
        """
        roles = read_roles(ROLES, "roles.yaml")
        self.assertEqual(roles["walker"], {"data": {"tables": {"Dog": {
            "read": True,
            "attribute_permissions": [{"attribute_name": "name", "read": True, "update": False}],
        }}}})
        boss = read_roles("boss: {super_user: true}", "r.yaml")
        self.assertEqual(boss, {"boss": {"super_user": True}})

    def test_problems(self) -> None:
        """
        Each wrong role is reported with the file and the role's name.
        """
        text = "a: {data: {Dog: {read: 'yes'}}}\nb: 3\n"
        error = self.assertRaises(ComponentError, read_roles, text, "/r.yaml")
        self.assertEqual(list(error.problems), [
            "/r.yaml: role a: permission.data.tables.Dog.read: expected true or false, got 'yes'",
            "/r.yaml: role b: expected a mapping of databases, got 3",
        ])
        error = self.assertRaises(ComponentError, read_roles, "[1", "/r.yaml")
        self.assertIn("malformed YAML", error.problems[0])


class RolesOnStartTests(PluginTestCase):
    """
    An application's C{roles.yaml} applied when the runtime starts.
    """

    files = {"config.yaml": "rest: true\ngraphqlSchema: true\nroles: true\n", "roles.yaml": ROLES}

    @inlineCallbacks
    def setUp(self):
        yield super().setUp()
        users = self.runtime.access.users
        for _ in range(100):
            names = {role.name for role in (yield users.list_roles())}
            if "walker" in names:
                break
            yield deferLater(reactor, 0, lambda: None)
        yield users.add_user("walker", "walker-pw", "walker")

    @inlineCallbacks
    def test_created_and_enforced(self) -> None:
        """
        The new role lets its user read dogs over REST and nothing else.
        """
        dog = yield self.request("GET", "/Dog/rex", headers=basic("walker", "walker-pw"))
        breed = yield self.request("GET", "/Breed/1", headers=basic("walker", "walker-pw"))
        self.assertEqual((dog.status, breed.status), (200, 403))

    @inlineCallbacks
    def test_updated(self) -> None:
        """
        Applying a changed file updates the existing role rather than failing: its user may
        now read breeds.
        """
        changed = ROLES + "    Breed: {read: true}\n"
        yield apply_roles(self.runtime.access.users, read_roles(changed, "roles.yaml"))
        breed = yield self.request("GET", "/Breed/1", headers=basic("walker", "walker-pw"))
        self.assertEqual(breed.json()["name"], "Beagle")
