"""
Tests for L{harper.http.rest}: paths, methods and statuses of the REST interface, in memory
over a started runtime on FileStorage.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.trial import unittest

from tests.http.helpers import (
    BREEDS,
    DOGS,
    KENNEL_SCHEMA,
    MemoryClient,
    RestTestCase,
    body,
    rest_api,
    start_runtime,
    through_lane,
)


class PathTests(RestTestCase):
    """
    What each kind of path addresses.
    """

    @inlineCallbacks
    def test_description(self):
        """
        C{GET /Dog} (no slash) describes the table, with its record count.
        """
        reply = yield self.request("GET", "/Dog")
        self.assertEqual(reply.status, 200)
        description = reply.json()
        self.assertEqual((description["name"], description["primaryKey"], description["recordCount"]), ("Dog", "id", 4))

    @inlineCallbacks
    def test_collection(self):
        """
        C{GET /Dog/} lists every record as a JSON array.
        """
        reply = yield self.request("GET", "/Dog/")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.header("content-type"), "application/json")
        self.assertEqual(sorted(dog["id"] for dog in reply.json()), sorted(dog["id"] for dog in DOGS))

    @inlineCallbacks
    def test_record(self):
        """
        C{GET /Dog/rex} answers the record.
        """
        reply = yield self.request("GET", "/Dog/rex")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json()["name"], "Rex")

    @inlineCallbacks
    def test_integer_key_coerced(self):
        """
        The id in the path is coerced to the primary key's type (C{Int} here).
        """
        reply = yield self.request("GET", "/Breed/2")
        self.assertEqual(reply.json(), BREEDS[1])

    @inlineCallbacks
    def test_bad_integer_key(self):
        """
        An id that is not valid for an C{Int} key is a 400 naming the problem.
        """
        reply = yield self.request("GET", "/Breed/two")
        self.assertEqual(reply.status, 400)
        self.assertIn("not a valid Int primary key", reply.json()["error"])

    @inlineCallbacks
    def test_multi_segment_id(self):
        """
        The rest of the path, slashes included, is the id.
        """
        reply = yield self.request("GET", "/Dog/kennel/a/2")
        self.assertEqual(reply.json()["name"], "Bo")

    @inlineCallbacks
    def test_encoded_slash_in_id(self):
        """
        Percent-encoded characters are decoded before the id is taken.
        """
        reply = yield self.request("GET", "/Dog/kennel%2Fb%2F1")
        self.assertEqual(reply.json()["name"], "Cy")

    @inlineCallbacks
    def test_prefix_collection(self):
        """
        C{GET /Dog/kennel/a/} lists the records whose id starts with C{kennel/a/}.
        """
        reply = yield self.request("GET", "/Dog/kennel/a/")
        self.assertEqual(sorted(dog["name"] for dog in reply.json()), ["Ace", "Bo"])

    @inlineCallbacks
    def test_prefix_collection_with_query(self):
        """
        An id-prefix collection can be narrowed by a query.
        """
        reply = yield self.request("GET", "/Dog/kennel/?age=gt=4&select(name)")
        self.assertEqual(sorted(reply.json()), ["Ace", "Cy"])

    @inlineCallbacks
    def test_prefix_collection_needs_text_key(self):
        """
        An id-prefix collection of a table with an integer key is a 400.
        """
        reply = yield self.request("GET", "/Breed/1/")
        self.assertEqual(reply.status, 400)
        self.assertIn("not text", reply.json()["error"])

    @inlineCallbacks
    def test_attribute(self):
        """
        C{/Dog/rex.name} answers one declared attribute; computed ones too.
        """
        name = yield self.request("GET", "/Dog/rex.name")
        years = yield self.request("GET", "/Dog/rex.ageInDogYears")
        self.assertEqual((name.json(), years.json()), ("Rex", 21))

    @inlineCallbacks
    def test_undeclared_dot_is_part_of_id(self):
        """
        A dot before a name that is not a declared attribute stays in the id.
        """
        yield self.runtime.tables.Dog.put("a.b", {"name": "Dotty"})
        reply = yield self.request("GET", "/Dog/a.b")
        self.assertEqual(reply.json()["name"], "Dotty")

    @inlineCallbacks
    def test_export_name(self):
        """
        A table exported under another name is served there, and only there.
        """
        created = yield self.request("PUT", "/notes/n1", body({"text": "hi"}))
        found = yield self.request("GET", "/notes/n1")
        missing = yield self.request("GET", "/Note/n1")
        self.assertEqual((created.status, found.json()["text"], missing.status), (204, "hi", 404))

    @inlineCallbacks
    def test_paths_are_case_sensitive(self):
        """
        C{/dog/} is not C{/Dog/}.
        """
        reply = yield self.request("GET", "/dog/")
        self.assertEqual(reply.status, 404)
        self.assertIn("no resource", reply.json()["error"])

    @inlineCallbacks
    def test_missing_record(self):
        """
        A record that does not exist is a 404.
        """
        reply = yield self.request("GET", "/Dog/nobody")
        self.assertEqual(reply.status, 404)
        self.assertIn("nobody", reply.json()["error"])

    @inlineCallbacks
    def test_select_on_record(self):
        """
        A query's selection shapes a single record too.
        """
        reply = yield self.request("GET", "/Dog/rex?select(name,breed{name})")
        self.assertEqual(reply.json(), {"name": "Rex", "breed": {"name": "Beagle"}})


class MethodTests(RestTestCase):
    """
    What each method does and answers.
    """

    @inlineCallbacks
    def test_put_replaces(self):
        """
        PUT replaces the whole record (omitted attributes are removed) and answers 204.
        """
        reply = yield self.request("PUT", "/Dog/rex", body({"name": "Rex II"}))
        self.assertEqual(reply.status, 204)
        stored = yield self.request("GET", "/Dog/rex")
        self.assertEqual(stored.json()["name"], "Rex II")
        self.assertNotIn("age", stored.json())

    @inlineCallbacks
    def test_patch_merges(self):
        """
        PATCH merges the given attributes into the record.
        """
        reply = yield self.request("PATCH", "/Dog/rex", body({"age": 4}))
        self.assertEqual(reply.status, 204)
        stored = yield self.request("GET", "/Dog/rex")
        self.assertEqual((stored.json()["name"], stored.json()["age"]), ("Rex", 4))

    @inlineCallbacks
    def test_patch_missing(self):
        """
        PATCH of a record that does not exist is a 404.
        """
        reply = yield self.request("PATCH", "/Dog/nobody", body({"age": 4}))
        self.assertEqual(reply.status, 404)

    @inlineCallbacks
    def test_post_creates(self):
        """
        POST to the collection creates a record with a generated key: 201 with a Location
        that serves it.
        """
        reply = yield self.request("POST", "/Breed/", body({"name": "Pug"}))
        self.assertEqual(reply.status, 201)
        self.assertEqual(reply.header("location"), "/Breed/3")
        self.assertEqual(reply.json()["id"], 3)
        created = yield self.request("GET", reply.header("location"))
        self.assertEqual(created.json()["name"], "Pug")

    @inlineCallbacks
    def test_post_without_slash(self):
        """
        POST to C{/Dog} (no slash) creates too; the Location escapes the generated id.
        """
        reply = yield self.request("POST", "/Dog", body({"name": "Zed"}))
        self.assertEqual(reply.status, 201)
        self.assertTrue(reply.header("location").startswith("/Dog/"))

    @inlineCallbacks
    def test_post_existing(self):
        """
        POST with the key of an existing record is a 409.
        """
        reply = yield self.request("POST", "/Breed/", body({"id": 1, "name": "Again"}))
        self.assertEqual(reply.status, 409)

    @inlineCallbacks
    def test_delete_record(self):
        """
        DELETE removes the record (204); a second DELETE is a 404.
        """
        first = yield self.request("DELETE", "/Dog/rex")
        second = yield self.request("DELETE", "/Dog/rex")
        gone = yield self.request("GET", "/Dog/rex")
        self.assertEqual((first.status, second.status, gone.status), (204, 404, 404))

    @inlineCallbacks
    def test_delete_query(self):
        """
        DELETE on a collection with a query removes every match and nothing else.
        """
        reply = yield self.request("DELETE", "/Dog/?breedId=2")
        self.assertEqual(reply.status, 204)
        left = yield self.request("GET", "/Dog/?select(name)")
        self.assertEqual(sorted(left.json()), ["Cy", "Rex"])

    @inlineCallbacks
    def test_delete_collection_needs_query(self):
        """
        DELETE on a collection without conditions is refused rather than emptying the table.
        """
        reply = yield self.request("DELETE", "/Dog/")
        self.assertEqual(reply.status, 400)
        left = yield self.request("GET", "/Dog")
        self.assertEqual(left.json()["recordCount"], 4)

    @inlineCallbacks
    def test_head(self):
        """
        HEAD answers the headers of GET without a body.
        """
        get = yield self.request("GET", "/Dog/rex")
        head = yield self.request("HEAD", "/Dog/rex")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(head.header("content-length"), str(len(get.body)))
        self.assertEqual(head.header("etag"), get.header("etag"))

    @inlineCallbacks
    def test_options(self):
        """
        OPTIONS lists the methods the resource answers in C{Allow}.
        """
        table = yield self.request("OPTIONS", "/Dog/rex")
        custom = yield self.request("OPTIONS", "/Greeting")
        self.assertEqual(table.status, 204)
        self.assertIn("PATCH", table.header("allow"))
        self.assertEqual(custom.header("allow"), "OPTIONS, GET, HEAD")

    @inlineCallbacks
    def test_method_not_allowed(self):
        """
        A method a custom resource does not implement is a 405 with C{Allow}.
        """
        reply = yield self.request("PUT", "/Greeting/x", body({}))
        self.assertEqual(reply.status, 405)
        self.assertEqual(reply.header("allow"), "OPTIONS, GET, HEAD")

    @inlineCallbacks
    def test_unknown_method(self):
        """
        A method harper does not know is a 501.
        """
        reply = yield self.request("BREW", "/Dog/rex")
        self.assertEqual(reply.status, 501)
        self.assertIn("BREW", reply.json()["error"])

    @inlineCallbacks
    def test_custom_resource(self):
        """
        A custom resource answers at its export name with the id below it.
        """
        bare = yield self.request("GET", "/Greeting")
        named = yield self.request("GET", "/Greeting/ann")
        self.assertEqual((bare.json(), named.json()), ({"hello": "world"}, {"hello": "ann"}))

    @inlineCallbacks
    def test_custom_answer(self):
        """
        A custom resource may return C{{status, headers, data}} or C{{status, headers, body}}.
        """
        teapot = yield self.request("GET", "/Teapot")
        queued = yield self.request("POST", "/Teapot", body({}))
        self.assertEqual((teapot.status, teapot.header("x-brewed"), teapot.json()), (418, "no", {"error": "I am a teapot"}))
        self.assertEqual((queued.status, queued.body), (202, b"queued"))


class ErrorTests(RestTestCase):
    """
    Client mistakes are 4xx with a clear message; internal failures are a bare 500.
    """

    options = {"max_body_size": 64}

    @inlineCallbacks
    def test_header_not_utf8(self):
        """
        A header harper reads that is not UTF-8 is a 400 that names it, not a 500.
        """
        for name in ("Accept", "Authorization", "Cache-Control"):
            reply = yield self.request("GET", "/Dog/rex", headers={name: b"\xe9t\xe9"})
            self.assertEqual(reply.status, 400, name)
            self.assertIn("not valid UTF-8", reply.json()["error"])

    @inlineCallbacks
    def test_bad_json(self):
        """
        A body that is not valid JSON is a 400 that says so.
        """
        reply = yield self.request("PUT", "/Dog/rex", b"{name: Rex", {"Content-Type": "application/json"})
        self.assertEqual(reply.status, 400)
        self.assertIn("not valid JSON", reply.json()["error"])

    @inlineCallbacks
    def test_empty_body(self):
        """
        A PUT without a body is a 400.
        """
        reply = yield self.request("PUT", "/Dog/rex", b"")
        self.assertEqual(reply.status, 400)
        self.assertIn("empty", reply.json()["error"])

    @inlineCallbacks
    def test_wrong_type(self):
        """
        A value of the wrong type for a declared attribute is a 400 naming it; nothing is
        written.
        """
        reply = yield self.request("PUT", "/Dog/rex", body({"name": "Rex", "age": "old"}))
        self.assertEqual(reply.status, 400)
        self.assertIn("age", reply.json()["error"])
        stored = yield self.request("GET", "/Dog/rex")
        self.assertEqual(stored.json()["age"], 3)

    @inlineCallbacks
    def test_not_an_object(self):
        """
        A record body that is not an object is a 400.
        """
        reply = yield self.request("PUT", "/Dog/rex", body([1, 2]))
        self.assertEqual(reply.status, 400)
        self.assertIn("must be an object", reply.json()["error"])

    @inlineCallbacks
    def test_sealed(self):
        """
        An undeclared attribute on a C{@sealed} table is a 400.
        """
        reply = yield self.request("PUT", "/notes/n1", body({"text": "x", "extra": 1}))
        self.assertEqual(reply.status, 400)
        self.assertIn("extra", reply.json()["error"])

    @inlineCallbacks
    def test_id_mismatch(self):
        """
        A body whose key differs from the path's id is a 400.
        """
        reply = yield self.request("PUT", "/Dog/rex", body({"id": "max", "name": "Max"}))
        self.assertEqual(reply.status, 400)

    @inlineCallbacks
    def test_too_large(self):
        """
        A body over the configured limit is a 413.
        """
        reply = yield self.request("PUT", "/Dog/rex", body({"name": "x" * 100}))
        self.assertEqual(reply.status, 413)
        self.assertIn("64 bytes", reply.json()["error"])

    @inlineCallbacks
    def test_unsupported_content_type(self):
        """
        A body of a type harper does not read is a 415.
        """
        reply = yield self.request("PUT", "/Dog/rex", b"<dog/>", {"Content-Type": "application/xml"})
        self.assertEqual(reply.status, 415)
        self.assertIn("application/xml", reply.json()["error"])

    @inlineCallbacks
    def test_query_syntax(self):
        """
        A malformed query is a 400 giving the reason, the position and the query.
        """
        reply = yield self.request("GET", "/Dog/?name==*Jo")
        self.assertEqual(reply.status, 400)
        message = reply.json()["error"]
        self.assertIn("position 6", message)
        self.assertIn("'name==*Jo'", message)

    @inlineCallbacks
    def test_bad_path_encoding(self):
        """
        A path whose escapes are not UTF-8 is a 400.
        """
        reply = yield self.request("GET", "/Dog/%ff")
        self.assertEqual(reply.status, 400)

    @inlineCallbacks
    def test_internal_error(self):
        """
        A bug in a resource is a 500 that does not leak the exception, and is logged.
        """
        reply = yield self.request("GET", "/Broken")
        self.assertEqual(reply.status, 500)
        self.assertNotIn(b"secret", reply.body)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)


class BasePathExportTests(unittest.TestCase):
    """
    C{@export(name: "")} mounts a table at the application's base path.
    """

    @inlineCallbacks
    def test_base_path(self):
        """
        Records of the base-path table are at C{/<id>}; other exports keep their paths.
        """
        schema = KENNEL_SCHEMA + 'type Page @table @export(name: "") { id: ID @primaryKey\n title: String }\n'
        runtime = start_runtime(self, schema)
        client = MemoryClient(rest_api(runtime))
        reply = yield client.request("PUT", "/home", body({"title": "Welcome"}), {"Content-Type": "application/json"})
        self.assertEqual(reply.status, 204)
        reply = yield client.request("GET", "/home")
        self.assertEqual((reply.status, reply.json()["title"]), (200, "Welcome"))
        reply = yield client.request("GET", "/Breed/")
        self.assertEqual(reply.status, 200)


LanePathTests = through_lane(PathTests)
LaneMethodTests = through_lane(MethodTests)
LaneErrorTests = through_lane(ErrorTests)
