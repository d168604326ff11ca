"""
Authentication and table permissions on the REST interface.
"""

from __future__ import annotations

import base64

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from tests.http.helpers import MemoryClient, body, rest_api, start_runtime


def basic(username: str, password: str) -> dict[str, str]:
    """
    A Basic C{Authorization} header.
    """
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


class RestAuthenticationTests(TestCase):
    """
    With C{authorizeLocal} off, REST callers must log in and need table permissions.
    """

    @inlineCallbacks
    def setUp(self):
        self.runtime = start_runtime(self, authentication="")
        users = self.runtime.access.users
        yield users.add_role("reader", {"data": {"tables": {"Dog": {"read": True}}}})
        yield users.add_user("admin", "s3cret!", "super_user")
        yield users.add_user("rita", "r3ader!", "reader")
        self.client = MemoryClient(rest_api(self.runtime))

    @inlineCallbacks
    def test_anonymous_refused(self):
        """
        Without credentials, table reads and writes are 401 and nothing is stored.
        """
        reply = yield self.client.request("PUT", "/Dog/x", body({"name": "X"}), {"Content-Type": "application/json"})
        self.assertEqual(reply.status, 401)
        reply = yield self.client.request("GET", "/Dog/x", headers=basic("admin", "s3cret!"))
        self.assertEqual(reply.status, 404)

    @inlineCallbacks
    def test_wrong_password(self):
        """
        Bad credentials are 401.
        """
        reply = yield self.client.request("GET", "/Dog/", headers=basic("admin", "wrong"))
        self.assertEqual(reply.status, 401)

    @inlineCallbacks
    def test_role_permissions(self):
        """
        A role that may read Dog reads it, cannot write it and cannot read Breed.
        """
        admin, rita = basic("admin", "s3cret!"), basic("rita", "r3ader!")
        reply = yield self.client.request("PUT", "/Dog/x", body({"name": "X"}), admin)
        self.assertEqual(reply.status, 204)
        reply = yield self.client.request("GET", "/Dog/x", headers=rita)
        self.assertEqual((reply.status, reply.json()["name"]), (200, "X"))
        reply = yield self.client.request("PATCH", "/Dog/x", body({"name": "Y"}), rita)
        self.assertEqual(reply.status, 403)
        reply = yield self.client.request("GET", "/Breed/", headers=rita)
        self.assertEqual(reply.status, 403)
        reply = yield self.client.request("GET", "/Dog/x", headers=rita)
        self.assertEqual(reply.json()["name"], "X")

    @inlineCallbacks
    def test_brute_force_refused(self):
        """
        After ten wrong passwords from one address, even the right one is refused with 429 and
        Retry-After for a while.
        """
        for _ in range(10):
            reply = yield self.client.request("GET", "/Dog/", headers=basic("admin", "wrong"))
            self.assertEqual(reply.status, 401)
        reply = yield self.client.request("GET", "/Dog/", headers=basic("admin", "s3cret!"))
        self.assertEqual(reply.status, 429)
        self.assertGreaterEqual(int(reply.header("retry-after")), 1)
