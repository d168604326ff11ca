# -*- test-case-name: tests.plugins.test_graphql -*-
"""
Tests for L{harper.plugins.graphql} and L{harper.plugins.graphql_schema}: the C{/graphql}
endpoint of a started runtime over real loopback HTTP.
"""

from __future__ import annotations

import orjson
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.database.conditions import Condition, Group, Query, SortKey
from harper.errors import InvalidInput
from harper.plugins.graphql_schema import query_for
from tests.plugins.helpers import PluginTestCase, basic

NESTED = """
query Older($age: Any) {
  Dog(conditions: [{attribute: "age", comparator: "greater_than", value: $age}], sort: ["name"]) {
    id
    name
    breed { name }
  }
}
"""


class QueryForTests(TestCase):
    """
    L{query_for} turns a table field's arguments into the query model.
    """

    def test_arguments(self) -> None:
        """
        Attribute arguments are C{equals} conditions joined with the C{conditions}; sort,
        limit and offset page the query.
        """
        query = query_for({
            "name": "Rex",
            "conditions": [{"attribute": "age", "comparator": "between", "value": [1, 4]}],
            "operator": "or", "sort": ["-age"], "limit": 2, "offset": 1,
        })
        expected = Group(
            "or", [Condition("name", "equals", "Rex"), Condition("age", "between", (1, 4))]
        )
        self.assertEqual(query, Query(expected, None, (SortKey("age", True),), 1, 2))

    def test_bad_arguments(self) -> None:
        """
        An unknown comparator or operator, or a negative limit, is L{InvalidInput} naming it.
        """
        for arguments, word in [
            ({"conditions": [{"attribute": "a", "comparator": "near"}]}, "near"),
            ({"name": "x", "operator": "xor"}, "xor"),
            ({"limit": -1}, "negative"),
        ]:
            error = self.assertRaises(InvalidInput, query_for, arguments)
            self.assertIn(word, error.message)


class GraphQLEndpointTests(PluginTestCase):
    """
    The C{graphql} plugin of an application, over HTTP.
    """

    files = {"config.yaml": "rest: true\ngraphqlSchema: true\ngraphql: true\n"}

    def graphql(self, query, variables=None, headers=None, operation=None):
        """
        POST a GraphQL request; fire with the reply.
        """
        body = {"query": query, "variables": variables, "operationName": operation}
        return self.request("POST", "/graphql", orjson.dumps(body), headers)

    @inlineCallbacks
    def test_same_records_as_rest(self) -> None:
        """
        A filtered query with a nested relationship selection returns the records the
        equivalent REST query returns.
        """
        reply = yield self.graphql(NESTED, {"age": 2})
        rest = yield self.request("GET", "/Dog/?age=gt=2&sort(name)&select(id,name,breed{name})")
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json(), {"data": {"Dog": rest.json()}})
        self.assertEqual([dog["id"] for dog in rest.json()], ["ace", "cy", "rex"])
        self.assertEqual(rest.json()[0]["breed"], {"name": "Collie"})

    @inlineCallbacks
    def test_id_lookup_and_reverse_relationship(self) -> None:
        """
        The primary key argument finds one record; a to-many relationship lists the related
        records with their own selection; aliases and fragments work.
        """
        query = "{ b: Breed(id: 2) { ...names dogs { id } } } fragment names on Breed { name }"
        reply = yield self.graphql(query)
        breed = reply.json()["data"]["b"]
        self.assertEqual(breed[0]["name"], "Collie")
        self.assertEqual(sorted(dog["id"] for dog in breed[0]["dogs"]), ["ace", "bo"])

    @inlineCallbacks
    def test_get_with_paging(self) -> None:
        """
        A GET request with C{query} in the URL runs the query; C{limit} and C{offset} page it.
        """
        query = "%7BDog(sort:%5B%22age%22%5D,limit:2,offset:1)%7Bname%7D%7D"
        reply = yield self.request("GET", "/graphql?query=" + query)
        self.assertEqual(reply.json(), {"data": {"Dog": [{"name": "Rex"}, {"name": "Ace"}]}})

    @inlineCallbacks
    def test_invalid_query(self) -> None:
        """
        A syntax error and an unknown field get 400 with standard GraphQL errors (message and
        locations), and no data.
        """
        syntax = yield self.graphql("{ Dog { name ")
        unknown = yield self.graphql("{ Dog { colour } }")
        for reply in (syntax, unknown):
            self.assertEqual(reply.status, 400)
            [error] = reply.json()["errors"]
            self.assertIn("locations", error)
            self.assertNotIn("data", reply.json())
        self.assertIn("colour", unknown.json()["errors"][0]["message"])

    @inlineCallbacks
    def test_bad_request_shape(self) -> None:
        """
        A body that is not JSON, a missing query and non-object variables are 400 errors
        that say what is wrong.
        """
        not_json = yield self.request("POST", "/graphql", b"{query")
        no_query = yield self.request("POST", "/graphql", b"{}")
        variables = yield self.graphql("{ Dog { name } }", [1])
        replies = (not_json, no_query, variables)
        messages = [reply.json()["errors"][0]["message"] for reply in replies]
        self.assertIn("not valid JSON", messages[0])
        self.assertIn("'query'", messages[1])
        self.assertIn("'variables'", messages[2])

    @inlineCallbacks
    def test_permissions(self) -> None:
        """
        As in REST, a table the role may not read is a field error (code C{Forbidden}) while
        the other fields are answered; without credentials, every field is C{Unauthorized}.
        """
        reply = yield self.graphql("{ Secret { text } Dog(id: \"rex\") { name } }")
        document = reply.json()
        self.assertEqual(document["data"], {"Secret": None, "Dog": [{"name": "Rex"}]})
        self.assertEqual(document["errors"][0]["path"], ["Secret"])
        self.assertEqual(document["errors"][0]["extensions"], {"code": "Forbidden", "status": 403})
        anonymous = yield self.graphql("{ Dog { name } }", headers={})
        self.assertEqual(anonymous.json()["errors"][0]["extensions"]["code"], "Unauthorized")
        wrong = yield self.graphql("{ Dog { name } }", headers={"Authorization": "Basic eDp5"})
        self.assertEqual(wrong.status, 401)

    @inlineCallbacks
    def test_hidden_attributes(self) -> None:
        """
        Related records come without the attributes the role may not read, and filtering
        on such an attribute is a C{Forbidden} field error naming it.
        """
        users = self.runtime.access.users
        yield users.add_role("blind", {"data": {"tables": {
            "Dog": {"read": True},
            "Breed": {"read": True, "attribute_permissions": [
                {"attribute_name": "dogs", "read": True}]},
        }}})
        yield users.add_user("blind", "blind-pw", "blind")
        headers = basic("blind", "blind-pw")
        reply = yield self.graphql("{ Dog(id: \"rex\") { name breed { id name } } }", headers=headers)
        self.assertEqual(reply.json()["data"], {"Dog": [{"name": "Rex", "breed": {"id": 1, "name": None}}]})
        self.assertNotIn(b"Beagle", reply.body)
        reply = yield self.graphql(
            "{ Breed(conditions: [{attribute: \"name\", comparator: \"equals\", value: \"Beagle\"}]) { id } }",
            headers=headers)
        [error] = reply.json()["errors"]
        self.assertEqual(error["extensions"], {"code": "Forbidden", "status": 403})
        self.assertIn("name", error["message"])

    @inlineCallbacks
    def test_introspection(self) -> None:
        """
        Introspection lists a query field per exported table and the table types.
        """
        reply = yield self.graphql(
            '{ __schema { queryType { fields { name } } } __type(name: "Dog") { fields { name } } }'
        )
        data = reply.json()["data"]
        fields = data["__schema"]["queryType"]["fields"]
        self.assertEqual(sorted(f["name"] for f in fields), ["Breed", "Dog", "Secret"])
        self.assertIn("breed", [f["name"] for f in data["__type"]["fields"]])


class GraphQLOffTests(PluginTestCase):
    """
    Without C{graphql} in config.yaml there is no endpoint.
    """

    files = {"config.yaml": "rest: true\ngraphqlSchema: true\n"}

    @inlineCallbacks
    def test_off(self) -> None:
        """
        C{/graphql} is not served (REST answers 404 for the unknown path).
        """
        reply = yield self.request("POST", "/graphql", b'{"query": "{ Dog { name } }"}')
        self.assertEqual(reply.status, 404)


class GraphQLLimitsTests(PluginTestCase):
    """
    The endpoint refuses requests that would cost too much.
    """

    files = {"config.yaml": "graphqlSchema: true\ngraphql: true\n"}

    @inlineCallbacks
    def test_depth(self) -> None:
        """
        A selection that follows relationships deeper than C{MAX_DEPTH} is a field error
        that says so.
        """
        query = "{ Dog { " + "breed { dogs { " * 5 + "name" + " } }" * 5 + " } }"
        reply = yield self.request("POST", "/graphql", orjson.dumps({"query": query}))
        self.assertEqual(reply.json()["data"], {"Dog": None})
        self.assertIn("more than 8 relationships", reply.json()["errors"][0]["message"])

    @inlineCallbacks
    def test_tokens(self) -> None:
        """
        A query with too many tokens is refused before it is parsed further.
        """
        query = "{ Dog { " + "name " * 6000 + "} }"
        reply = yield self.request("POST", "/graphql", orjson.dumps({"query": query}))
        self.assertEqual(reply.status, 400)
        self.assertIn("token", reply.json()["errors"][0]["message"])
