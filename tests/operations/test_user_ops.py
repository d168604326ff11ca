"""
Tests for L{harper.operations.user_ops}: users and roles over the operations API, and what
a role that may only read one table can do.
"""

from __future__ import annotations

from tests.operations.helpers import OperationsCase, basic

PERMISSION = {"data": {"tables": {"Dog": {"read": True, "insert": True, "update": False, "delete": False}}}}


class UserTests(OperationsCase):
    """
    Adding, changing, listing and removing users.
    """

    async def test_user_lifecycle(self) -> None:
        """
        A user added with a role can log in; altered, it logs in with the new password only;
        deactivated or dropped, it cannot.
        """
        role = await self.ok({"operation": "add_role", "role": "dogs", "permission": PERMISSION})
        self.assertEqual((role["role"], role["permission"]), ("dogs", PERMISSION))
        answer = await self.ok({"operation": "add_user", "username": "ann", "password": "pw1", "role": "dogs"})
        self.assertEqual(answer, {"message": "ann successfully added"})
        info = await self.ok({"operation": "user_info"}, basic("ann", "pw1"))
        self.assertEqual((info["username"], info["active"], info["role"]["role"]), ("ann", True, "dogs"))
        self.assertNotIn("password", info)
        answer = await self.ok({"operation": "alter_user", "username": "ann", "password": "pw2"})
        self.assertEqual(answer["message"], "updated 1 of 1 records")
        await self.refused({"operation": "user_info"}, 401, basic("ann", "pw1"))
        await self.ok({"operation": "user_info"}, basic("ann", "pw2"))
        await self.ok({"operation": "alter_user", "username": "ann", "active": False})
        await self.refused({"operation": "user_info"}, 401, basic("ann", "pw2"))
        self.assertEqual(await self.ok({"operation": "drop_user", "username": "ann"}), {"message": "ann successfully deleted"})
        users = await self.ok({"operation": "list_users"})
        self.assertEqual([user["username"] for user in users], ["admin"])
        self.assertEqual(users[0]["role"]["permission"], {"super_user": True})

    async def test_user_errors(self) -> None:
        """
        Duplicates are 409s, unknown users 404s, unknown roles and bad fields 400s.
        """
        body = {"operation": "add_user", "username": "admin", "password": "x", "role": "super_user"}
        self.assertEqual(await self.refused(body, 409), "user 'admin' already exists")
        self.assertEqual(await self.refused({**body, "username": "bob", "role": "nope"}, 400),
                         "role: there is no role named 'nope'")
        self.assertEqual(await self.refused({**body, "username": "a:b"}, 400),
                         "username: must be non-empty text without ':' or surrounding spaces")
        self.assertEqual(await self.refused({**body, "username": "bob", "active": "yes"}, 400),
                         "active: expected true or false, got text")
        self.assertEqual(await self.refused({"operation": "add_user", "username": "bob"}, 400), "password: required")
        self.assertEqual(await self.refused({"operation": "drop_user", "username": "ghost"}, 404), "user 'ghost' does not exist")
        self.assertEqual(await self.refused({"operation": "alter_user", "username": "admin"}, 400),
                         "alter_user needs at least one of password, role, active")


class RoleTests(OperationsCase):
    """
    Adding, changing, listing and removing roles.
    """

    async def test_role_lifecycle(self) -> None:
        """
        A role gets an id, can be renamed and given a new permission, and dropped once no
        user holds it.
        """
        role = await self.ok({"operation": "add_role", "role": "dogs", "permission": PERMISSION})
        await self.ok({"operation": "add_user", "username": "ann", "password": "pw", "role": "dogs"})
        altered = await self.ok({"operation": "alter_role", "id": role["id"], "role": "hounds",
                                 "permission": {"super_user": True}})
        self.assertEqual((altered["role"], altered["permission"]), ("hounds", {"super_user": True}))
        info = await self.ok({"operation": "user_info"}, basic("ann", "pw"))
        self.assertEqual(info["role"]["role"], "hounds")
        message = await self.refused({"operation": "drop_role", "id": role["id"]}, 409)
        self.assertEqual(message, "role 'hounds' is still held by ann")
        await self.ok({"operation": "drop_user", "username": "ann"})
        self.assertEqual(await self.ok({"operation": "drop_role", "id": role["id"]}), {"message": "hounds successfully deleted"})
        roles = await self.ok({"operation": "list_roles"})
        self.assertEqual([each["role"] for each in roles], ["super_user"])

    async def test_role_errors(self) -> None:
        """
        A malformed permission is a 400 naming the bad entry; duplicates are 409s; unknown
        ids 404s.
        """
        bad = {"data": {"tables": {"Dog": {"read": "yes"}}}}
        message = await self.refused({"operation": "add_role", "role": "r", "permission": bad}, 400)
        self.assertEqual(message, "permission.data.tables.Dog.read: expected true or false, got 'yes'")
        self.assertEqual(await self.refused({"operation": "add_role", "role": "r"}, 400), "permission: required")
        message = await self.refused({"operation": "add_role", "role": "super_user", "permission": {}}, 409)
        self.assertEqual(message, "a role named 'super_user' already exists")
        self.assertEqual(await self.refused({"operation": "drop_role", "id": "nope"}, 404), "role 'nope' does not exist")


class PermissionTests(OperationsCase):
    """
    A role granting only C{read} on C{Dog}.
    """

    async def setUp(self) -> None:
        await super().setUp()
        self.reader = await self.add_reader()
        await self.ok({"operation": "insert", "table": "Dog", "records": [{"id": 1, "name": "Rex"}]})

    async def test_reads_dog(self) -> None:
        """
        The reader can search Dog.
        """
        found = await self.ok({"operation": "search_by_value", "table": "Dog", "attribute": "name", "value": "R*",
                               "get_attributes": ["name"]}, self.reader)
        self.assertEqual(found, [{"name": "Rex"}])

    async def test_everything_else_forbidden(self) -> None:
        """
        Writes to Dog, reads of Breed and administration are 403s.
        """
        forbidden = [
            {"operation": "insert", "table": "Dog", "records": [{"name": "Spot"}]},
            {"operation": "update", "table": "Dog", "records": [{"id": 1, "name": "Spot"}]},
            {"operation": "upsert", "table": "Dog", "records": [{"id": 1, "name": "Spot"}]},
            {"operation": "delete", "table": "Dog", "ids": [1]},
            {"operation": "search_by_id", "table": "Breed", "ids": [1]},
            {"operation": "add_user", "username": "x", "password": "y", "role": "super_user"},
            {"operation": "list_users"},
            {"operation": "list_roles"},
            {"operation": "system_information"},
            {"operation": "get_configuration"},
        ]
        for body in forbidden:
            answer = await self.post(body, self.reader)
            self.assertEqual(answer.status, 403, (body, answer.body))
        self.assertEqual(len(await self.ok({"operation": "search_by_id", "table": "Dog", "ids": [1]}, self.reader)), 1)
