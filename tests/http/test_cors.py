"""
Tests for L{harper.http.cors} (and the L{harper.http.site.guarded} front): CORS headers,
preflight answers and the access list, in memory and over a real socket.
"""

from __future__ import annotations

import orjson
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from twisted.web import resource

from harper.components.config import config_from_string
from harper.http.cors import CorsPolicy, CorsResource, with_cors
from harper.http.site import HarperRoot, guarded
from tests.http.helpers import MemoryClient, SocketClient, rest_api, start_runtime

SITE = "https://app.example"
PREFLIGHT = {"Origin": SITE, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}


class PolicyTests(TestCase):
    """
    L{CorsPolicy} and L{with_cors}.
    """

    def test_access_list(self) -> None:
        """
        An empty list allows every origin; otherwise only the origins listed.
        """
        self.assertTrue(CorsPolicy().allows("https://any.example"))
        listed = CorsPolicy(frozenset({SITE}))
        self.assertTrue(listed.allows(SITE))
        self.assertFalse(listed.allows("https://other.example"))

    def test_disabled(self) -> None:
        """
        With C{http.cors} off the root is served as it is.
        """
        root = resource.Resource()
        self.assertIs(with_cors(root, False), root)
        self.assertIsInstance(with_cors(root, True), CorsResource)


class CorsRestTests(TestCase):
    """
    The REST interface behind the CORS front, in memory.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        self.root = HarperRoot(rest_api(self.runtime), [])

    def client(self, access_list=(), enabled=True) -> MemoryClient:
        return MemoryClient(with_cors(self.root, enabled, access_list))

    @inlineCallbacks
    def test_preflight(self):
        """
        A preflight is answered 204 with the origin, methods, headers and credentials.
        """
        reply = yield self.client().request("OPTIONS", "/Dog/rex", headers=PREFLIGHT)
        self.assertEqual(reply.status, 204)
        self.assertEqual(reply.header("access-control-allow-origin"), SITE)
        self.assertEqual(reply.header("access-control-allow-credentials"), "true")
        self.assertIn("PUT", reply.header("access-control-allow-methods"))
        self.assertIn("Content-Type", reply.header("access-control-allow-headers"))
        self.assertIn("Origin", reply.headers.getRawHeaders("vary"))

    @inlineCallbacks
    def test_simple_request(self):
        """
        An answer to an allowed origin names it, exposes harper's headers and still varies
        by Accept.
        """
        yield self.runtime.tables.Dog.put("rex", {"name": "Rex"})
        reply = yield self.client().request("GET", "/Dog/rex", headers={"Origin": SITE})
        self.assertEqual((reply.status, reply.json()["name"]), (200, "Rex"))
        self.assertEqual(reply.header("access-control-allow-origin"), SITE)
        self.assertIn("ETag", reply.header("access-control-expose-headers"))
        vary = ", ".join(reply.headers.getRawHeaders("vary"))
        self.assertIn("Origin", vary)
        self.assertIn("Accept", vary)

    @inlineCallbacks
    def test_plain_options_untouched(self):
        """
        OPTIONS without Access-Control-Request-Method is the REST interface's (Allow).
        """
        reply = yield self.client().request("OPTIONS", "/Greeting/x", headers={"Origin": SITE})
        self.assertEqual(reply.status, 204)
        self.assertEqual(sorted(reply.header("allow").split(", ")), ["GET", "HEAD", "OPTIONS"])
        self.assertIsNone(reply.header("access-control-allow-methods"))
        self.assertEqual(reply.header("access-control-allow-origin"), SITE)

    @inlineCallbacks
    def test_origin_not_listed(self):
        """
        An origin outside the access list gets no CORS headers, and its preflight a 403.
        """
        client = self.client(access_list=["https://other.example"])
        preflight = yield client.request("OPTIONS", "/Dog/rex", headers=PREFLIGHT)
        self.assertEqual(preflight.status, 403)
        self.assertIn("corsAccessList", preflight.json()["error"])
        self.assertIsNone(preflight.header("access-control-allow-origin"))
        reply = yield client.request("GET", "/Dog/", headers={"Origin": SITE})
        self.assertEqual(reply.status, 200)
        self.assertIsNone(reply.header("access-control-allow-origin"))

    @inlineCallbacks
    def test_disabled_or_same_origin(self):
        """
        Without an Origin header, or with CORS off, answers carry no CORS headers.
        """
        same = yield self.client().request("GET", "/Dog/")
        self.assertIsNone(same.header("access-control-allow-origin"))
        off = yield self.client(enabled=False).request("OPTIONS", "/Dog/rex", headers=PREFLIGHT)
        self.assertIsNone(off.header("access-control-allow-origin"))


class CorsSocketTests(TestCase):
    """
    The front the daemon serves (L{guarded}) from the configuration, over a real socket.
    """

    @inlineCallbacks
    def test_configured_front(self):
        """
        C{http.corsAccessList} from the configuration decides which origin is answered.
        """
        runtime = start_runtime(self)
        config = config_from_string(f"http: {{corsAccessList: [{SITE}]}}\n", base_dir=".", root=self.mktemp(), environ={})
        rest = rest_api(runtime)
        front = guarded(HarperRoot(rest, []), config.http, lambda: 0.0)
        for client in (SocketClient(self, front), SocketClient(self, front, rest=rest)):
            yield self.check_front(client)

    @inlineCallbacks
    def check_front(self, client):
        """
        Through C{client}: the preflight and the write of the allowed origin are answered, the
        other origin is refused.
        """
        preflight = yield client.request("OPTIONS", "/Dog/", headers=PREFLIGHT)
        self.assertEqual((preflight.status, preflight.header("access-control-allow-origin")), (204, SITE))
        put = yield client.request("PUT", "/Dog/rex", orjson.dumps({"name": "Rex"}), {"Origin": SITE, "Content-Type": "application/json"})
        self.assertEqual((put.status, put.header("access-control-allow-origin")), (204, SITE))
        other = yield client.request("OPTIONS", "/Dog/", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        self.assertEqual(other.status, 403)
