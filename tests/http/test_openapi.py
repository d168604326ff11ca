"""
Tests for L{harper.http.openapi} and C{GET /openapi}.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.auth.authenticator import LOCAL_USER
from harper.http.rest import RestAPI
from tests.http.helpers import MemoryClient, start_runtime


class SuperUserAPI(RestAPI):
    """
    The REST interface with every request made by a super user.
    """

    def context_for(self, request):
        context = super().context_for(request)
        context.user = LOCAL_USER
        return context


class OpenAPITests(TestCase):
    """
    The generated OpenAPI document.
    """

    def setUp(self):
        self.runtime = start_runtime(self)

    def client(self, api_class):
        return MemoryClient(api_class(self.runtime.registry, self.runtime.caller, 1024))

    @inlineCallbacks
    def test_document(self):
        """
        Tables get collection and record paths and a schema; custom resources their methods.
        """
        reply = yield self.client(SuperUserAPI).request("GET", "/openapi")
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
        reply = yield self.client(RestAPI).request("GET", "/openapi")
        self.assertEqual(reply.status, 401)
