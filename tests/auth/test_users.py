"""
Tests for L{harper.auth.users} over real system tables (L{harper.auth.system}).
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.auth.roles import SUPER_USER_ROLE
from harper.errors import Conflict, InvalidInput, NotFound, ValidationError
from tests.auth.helpers import make_users


class BootstrapTests(TestCase):
    """
    L{Users.bootstrap}.
    """

    def setUp(self) -> None:
        self.users, _, _ = make_users(self)

    async def test_first_start(self) -> None:
        """
        The super_user role is created; the administrator is created while there is no user.
        """
        self.users.bootstrap(("root", "pw"))
        user = await self.users.verify("root", "pw")
        self.assertEqual((user.username, user.role.name, user.super_user), ("root", SUPER_USER_ROLE, True))

    async def test_not_again(self) -> None:
        """
        Once a user exists, bootstrap creates no other (and changes no password).
        """
        self.users.bootstrap(("root", "pw"))
        self.users.bootstrap(("root", "other"))
        self.users.bootstrap(("second", "pw"))
        self.assertEqual([user.username for user in await self.users.list_users()], ["root"])
        self.assertIsNotNone(await self.users.verify("root", "pw"))

    async def test_without_admin(self) -> None:
        """
        Without an administrator only the role is created.
        """
        self.users.bootstrap(None)
        self.assertEqual(await self.users.list_users(), [])
        self.assertEqual([role.name for role in await self.users.list_roles()], [SUPER_USER_ROLE])


class UsersTests(TestCase):
    """
    Users and roles.
    """

    async def setUp(self) -> None:
        self.users, self.runner, self.tables = make_users(self)
        self.users.bootstrap(None)
        self.role = await self.users.add_role("dogs", {"data": {"tables": {"Dog": {"read": True}}}})

    async def test_verify(self) -> None:
        """
        The right password gives the user with its role; a wrong password, an unknown user
        and an inactive user give C{None}.
        """
        await self.users.add_user("ann", "pw", "dogs")
        await self.users.add_user("old", "pw", "dogs", active=False)
        user = await self.users.verify("ann", "pw")
        self.assertEqual((user.username, user.role), ("ann", self.role))
        self.assertIsNone(await self.users.verify("ann", "PW"))
        self.assertIsNone(await self.users.verify("nobody", "pw"))
        self.assertIsNone(await self.users.verify("old", "pw"))

    async def test_password_hashed(self) -> None:
        """
        The stored record holds an argon2id hash, not the password.
        """
        await self.users.add_user("ann", "the-password", "dogs")
        table = self.tables[0]
        record = self.runner.run_blocking(lambda txn: table.get(txn, "ann"))
        self.assertTrue(record["password"].startswith("$argon2id$"))
        self.assertNotIn("the-password", str(record))

    async def test_add_errors(self) -> None:
        """
        Taken names, unknown roles and unusable usernames or passwords are refused.
        """
        await self.users.add_user("ann", "pw", "dogs")
        await self.assertFailure(self.users.add_user("ann", "pw", "dogs"), Conflict)
        await self.assertFailure(self.users.add_user("bob", "pw", "cats"), InvalidInput)
        self.assertRaises(InvalidInput, self.users.add_user, "a:b", "pw", "dogs")
        self.assertRaises(InvalidInput, self.users.add_user, "bob", "", "dogs")

    async def test_alter_user(self) -> None:
        """
        Password, role and active flag change independently; unknown users are L{NotFound}.
        """
        await self.users.add_user("ann", "pw", "dogs")
        changed = await self.users.alter_user("ann", role=SUPER_USER_ROLE)
        self.assertTrue(changed.super_user)
        self.assertIsNotNone(await self.users.verify("ann", "pw"))
        await self.users.alter_user("ann", password="new")
        self.assertIsNone(await self.users.verify("ann", "pw"))
        self.assertTrue((await self.users.verify("ann", "new")).super_user)
        await self.assertFailure(self.users.alter_user("ghost", active=False), NotFound)

    async def test_version(self) -> None:
        """
        Every successful change increments L{Users.version}; reads and failures do not.
        """
        before = self.users.version
        await self.users.add_user("ann", "pw", "dogs")
        await self.users.list_users()
        await self.assertFailure(self.users.drop_user("ghost"), NotFound)
        self.assertEqual(self.users.version, before + 1)

    async def test_roles(self) -> None:
        """
        Role names are unique, renames keep the users' role, and a held role cannot be dropped.
        """
        await self.assertFailure(self.users.add_role("dogs", {}), Conflict)
        self.assertRaises(ValidationError, self.users.add_role, "bad", {"super_user": "yes"})
        await self.users.add_user("ann", "pw", "dogs")
        await self.users.alter_role(self.role.id, name="hounds")
        self.assertEqual((await self.users.get_user("ann")).role.name, "hounds")
        await self.assertFailure(self.users.drop_role(self.role.id), Conflict)
        await self.users.drop_user("ann")
        dropped = await self.users.drop_role(self.role.id)
        self.assertEqual(dropped.name, "hounds")
        await self.assertFailure(self.users.drop_role(self.role.id), NotFound)
