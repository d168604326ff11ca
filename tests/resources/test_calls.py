"""
Tests for the permission check of L{harper.resources.calls}: L{authorize} before every call
a transport makes through L{ResourceCaller}, the C{allow_*} methods of resources, and the
attributes table reads hide.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from harper.auth.roles import Role, User
from harper.components.application import Application
from harper.components.config import config_from_string
from harper.components.runtime import ApplicationTables, Runtime
from harper.database.conditions import Condition, Query
from harper.errors import Forbidden, Unauthorized
from harper.resources.base import Resource
from harper.resources.calls import authorize
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget
from harper.schema.sdl import parse_schema

SCHEMA = "type Dog @table @export { id: ID @primaryKey, name: String, chip: String }"

#: Read Dog without its chip; update its name only.
PERMISSION = {"data": {"tables": {"Dog": {
    "read": True, "update": True,
    "attribute_permissions": [{"attribute_name": "name", "read": True, "update": True}],
}}}}
ANN = User("ann", Role("r", "reader", PERMISSION))


class Guarded(Resource):
    """
    A custom resource that lets only C{"ann"} update, and records what it was asked.
    """

    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def allow_update(self, user: Any, target: RequestTarget, data: Any, context: RequestContext) -> bool:
        self.asked.append((getattr(user, "username", None), data))
        return getattr(user, "username", None) == "ann"

    def put(self, target: RequestTarget, data: Any, context: RequestContext) -> Any:
        return data


class AuthorizeTests(SynchronousTestCase):
    """
    L{authorize} asks the resource's C{allow_*} method for the call's method.
    """

    def test_custom_allow(self) -> None:
        """
        A refusal is L{Unauthorized} without a user and L{Forbidden} with one; the
        C{allow_*} method gets the user and the data written.
        """
        guarded = Guarded()
        context = RequestContext(user=ANN, check_permission=True)
        authorize("put", guarded, RequestTarget.record(1), context, {"a": 1})
        self.assertRaises(Unauthorized, authorize, "put", guarded, RequestTarget.record(1),
                          RequestContext(check_permission=True), {"a": 2})
        bob = User("bob", ANN.role)
        error = self.assertRaises(Forbidden, authorize, "patch", guarded, RequestTarget.record(1),
                                  RequestContext(user=bob, check_permission=True), {"a": 3})
        self.assertEqual(error.message, "user 'bob' may not patch Guarded")
        self.assertEqual(guarded.asked, [("ann", {"a": 1}), (None, {"a": 2}), ("bob", {"a": 3})])

    def test_unchecked(self) -> None:
        """
        Nothing is asked for contexts without C{check_permission} (code calling tables)
        or for methods outside the Resource API.
        """
        guarded = Guarded()
        authorize("put", guarded, RequestTarget.record(1), RequestContext(), {})
        authorize("run", guarded, RequestTarget(), RequestContext(check_permission=True))
        self.assertEqual(guarded.asked, [])

    def test_base_allows_super_users_only(self) -> None:
        """
        The C{allow_*} methods a custom resource does not override let super users in and
        refuse everybody else, as Harper's defaults do: L{Unauthorized} without a user,
        L{Forbidden} for a user who is not a super user (or not active).
        """
        guarded, record = Guarded(), RequestTarget.record(1)
        admin = User("root", Role("s", "super_user", {"super_user": True}))
        for method in ("get", "post", "delete"):
            authorize(method, guarded, record, RequestContext(user=admin, check_permission=True), {})
            self.assertRaises(Unauthorized, authorize, method, guarded, record,
                              RequestContext(check_permission=True), {})
            for refused in (ANN, User("off", admin.role, active=False)):
                self.assertRaises(Forbidden, authorize, method, guarded, record,
                                  RequestContext(user=refused, check_permission=True), {})


class TableCallTests(TestCase):
    """
    Calls of a table through the caller, with and without a user to check.
    """

    def setUp(self) -> None:
        root = self.mktemp()
        config = config_from_string("", base_dir=".", root=root, environ={})
        planned = [ApplicationTables(Application(".", config), parse_schema([("d.graphql", SCHEMA)]))]
        self.runtime = Runtime(config, planned, reactor)
        self.runtime.start()
        self.addCleanup(self.runtime.stop)
        self.dogs = self.runtime.tables.Dog
        self.context = RequestContext(user=ANN, check_permission=True)
        return self.internal("put", RequestTarget.record("1"), {"name": "Rex", "chip": "985-1"})

    def call(self, method: str, target: RequestTarget, *args: Any) -> Any:
        return self.runtime.caller.call(method, self.dogs.resource, target, self.context, *args)

    def internal(self, method: str, target: RequestTarget, *args: Any) -> Any:
        """
        Call the table as application code does: with a context that checks nothing.
        """
        return self.runtime.caller.call(method, self.dogs.resource, target, RequestContext(), *args)

    async def test_reads_hide(self) -> None:
        """
        Records, collections and subscriptions leave out the attributes the role may not
        read; code calling the table sees everything.
        """
        self.assertEqual(await self.call("get", RequestTarget.record("1")), {"id": "1", "name": "Rex"})
        query = Query(Condition(("name",), "equals", "Rex"))
        self.assertEqual(await self.call("search", RequestTarget.collection(query)), [{"id": "1", "name": "Rex"}])
        await self.assertFailure(self.call("get", RequestTarget(id="1", attribute="chip")), Forbidden)
        events: list = []
        self.runtime.caller.open("subscribe", self.dogs.resource, RequestTarget.record("1"),
                                 self.context, events.append)
        await self.internal("put", RequestTarget.record("1"), {"name": "Rex", "chip": "985-2"})
        self.assertEqual([event.value for event in events], [{"id": "1", "name": "Rex"}])
        self.assertEqual((await self.internal("get", RequestTarget.record("1")))["chip"], "985-2")

    async def test_writes_checked(self) -> None:
        """
        A write needs the table verb and the verb on every attribute it sets.
        """
        await self.call("patch", RequestTarget.record("1"), {"name": "Max"})
        await self.assertFailure(self.call("patch", RequestTarget.record("1"), {"chip": "x"}), Forbidden)
        await self.assertFailure(self.call("delete", RequestTarget.record("1")), Forbidden)
        await self.assertFailure(self.call("post", RequestTarget.collection(), {"name": "Max"}), Forbidden)
        self.context.user = None
        await self.assertFailure(self.call("get", RequestTarget.record("1")), Unauthorized)
        record = await self.internal("get", RequestTarget.record("1"))
        self.assertEqual(record, {"id": "1", "name": "Max", "chip": "985-1"})

    async def test_delete_filters_checked(self) -> None:
        """
        A delete of the records matching a query may filter only on attributes the role
        may read: filtering on a hidden one is refused, naming it, and deletes nothing.
        """
        self.context.user = User("dan", Role("d", "deleter", {"data": {"tables": {"Dog": {
            "read": True, "delete": True,
            "attribute_permissions": [{"attribute_name": "name", "read": True}],
        }}}}))
        by_chip = RequestTarget.collection(Query(Condition(("chip",), "starts_with", "985")))
        error = await self.assertFailure(self.call("delete", by_chip), Forbidden)
        self.assertEqual(error.message, "user 'dan' may not read chip of Dog")
        self.assertEqual((await self.internal("get", RequestTarget.record("1")))["chip"], "985-1")
        by_name = RequestTarget.collection(Query(Condition(("name",), "equals", "Rex")))
        self.assertEqual(await self.call("delete", by_name), 1)
