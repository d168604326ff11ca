"""
Tests for L{harper.http.openapi} and C{GET /openapi}.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from tests.http.helpers import MemoryClient, rest_api, start_runtime


class OpenAPITests(TestCase):
    """
    The generated OpenAPI document.
    """

    def client(self, authentication):
        """
        A client of a new runtime whose callers are authenticated with C{authentication}.
        """
        return MemoryClient(rest_api(start_runtime(self, authentication=authentication)))

    @inlineCallbacks
    def test_document(self):
        """
        Tables get collection and record paths and a schema; custom resources their methods.
        """
        reply = yield self.client("authentication: {authorizeLocal: true}\n").request("GET", "/openapi")
        self.assertEqual(reply.status, 200)
        document = reply.json()
        self.assertEqual(document["openapi"], "3.0.3")
        self.assertEqual(set(document["paths"]["/Dog/{id}"]) - {"parameters"}, {"get", "put", "patch", "delete"})
        self.assertIn("/notes/", document["paths"])
        self.assertEqual(set(document["paths"]["/Greeting"]), {"get", "head"})
        dog = document["components"]["schemas"]["Dog"]
        self.assertEqual(dog["properties"]["age"], {"type": "integer"})
        self.assertEqual(dog["properties"]["tags"], {"type": "array", "items": {"type": "string"}})
        self.assertTrue(dog["properties"]["ageInDogYears"]["readOnly"])
        self.assertEqual(dog["required"], ["name"])

    @inlineCallbacks
    def test_super_user_only(self):
        """
        Without a super user the document is refused.
        """
        reply = yield self.client("").request("GET", "/openapi")
        self.assertEqual(reply.status, 401)
