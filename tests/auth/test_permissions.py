"""
Tests for L{harper.auth.permissions} and the role values of L{harper.auth.roles}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.auth.permissions import (
    access,
    allows,
    check,
    check_attribute_read,
    check_attributes,
    queried_paths,
    require_structure_user,
    require_super_user,
)
from harper.auth.roles import Role, TableAccess, User, check_permission
from harper.database.conditions import Condition, Group, Not, Query, SortKey
from harper.errors import Forbidden, Unauthorized, ValidationError

READ_DOG = {"data": {"tables": {"Dog": {"read": True, "insert": False}}}}
READER = User("ann", Role("r", "reader", READ_DOG))
ADMIN = User("root", Role("super_user", "super_user", {"super_user": True}))


class CheckTests(SynchronousTestCase):
    """
    L{check}, L{allows} and L{require_super_user}.
    """

    def test_granted(self) -> None:
        """
        A verb the role grants on the table passes.
        """
        check(READER, "read", "data", "Dog")
        self.assertTrue(allows(READER, "read", "data", "Dog"))

    def test_not_granted(self) -> None:
        """
        Verbs set to false or absent, other tables and other databases are forbidden.
        """
        for verb, database, table in [("insert", "data", "Dog"), ("delete", "data", "Dog"),
                                      ("read", "data", "Breed"), ("read", "other", "Dog")]:
            error = self.assertRaises(Forbidden, check, READER, verb, database, table)
            self.assertEqual(error.message, f"user 'ann' may not {verb} records of {database}.{table}")

    def test_super_user(self) -> None:
        """
        A super user may do everything.
        """
        check(ADMIN, "delete", "any", "Table")
        require_super_user(ADMIN, "add users")

    def test_anonymous(self) -> None:
        """
        Without a user every check is L{Unauthorized}.
        """
        self.assertRaises(Unauthorized, check, None, "read", "data", "Dog")
        self.assertRaises(Unauthorized, require_super_user, None, "add users")
        self.assertFalse(allows(None, "read", "data", "Dog"))

    def test_inactive(self) -> None:
        """
        An inactive user is allowed nothing, even as a super user.
        """
        inactive = User("old", ADMIN.role, active=False)
        self.assertRaises(Forbidden, check, inactive, "read", "data", "Dog")
        self.assertRaises(Forbidden, require_super_user, inactive, "add users")

    def test_not_super_user(self) -> None:
        """
        L{require_super_user} names what was refused.
        """
        error = self.assertRaises(Forbidden, require_super_user, READER, "add users")
        self.assertEqual(error.message, "only super users may add users")

    def test_unknown_verb(self) -> None:
        """
        A verb that is not read, insert, update or delete is a programming error.
        """
        self.assertRaises(ValueError, allows, ADMIN, "drop", "data", "Dog")


HIDDEN_AGE = {"data": {"tables": {"Dog": {
    "read": True, "insert": True, "update": True,
    "attribute_permissions": [
        {"attribute_name": "name", "read": True, "insert": True, "update": False},
        {"attribute_name": "age", "read": False, "update": True},
    ],
}}}}
KEEPER = User("kim", Role("k", "keeper", HIDDEN_AGE))


class AttributeTests(SynchronousTestCase):
    """
    Attribute-level permissions: L{TableAccess}, L{access} and L{check_attributes}.
    """

    def test_without_attribute_permissions(self) -> None:
        """
        A table without C{attribute_permissions} shows and accepts every attribute.
        """
        granted = access(READER, "read", "data", "Dog")
        self.assertEqual(granted, TableAccess(frozenset({"read"})))
        record = {"id": 1, "age": 3}
        self.assertIs(granted.visible(record, "id"), record)
        self.assertEqual(granted.refused_attributes("insert", ["age"], "id"), [])

    def test_visible(self) -> None:
        """
        Listed attributes without C{read}, and attributes the list leaves out, are removed;
        the primary key always stays; values that are not records pass unchanged.
        """
        granted = access(KEEPER, "read", "data", "Dog")
        record = {"id": 1, "name": "Rex", "age": 3, "colour": "brown"}
        self.assertEqual(granted.visible(record, "id"), {"id": 1, "name": "Rex"})
        self.assertEqual(granted.visible("a message", "id"), "a message")
        self.assertEqual([granted.may_read(name, "id") for name in ("id", "name", "age", "colour")],
                         [True, True, False, False])

    def test_check_attributes(self) -> None:
        """
        A write may set only the attributes the role grants the verb on (and the key).
        """
        check_attributes(KEEPER, "insert", "data", "Dog", ["id", "name"], "id")
        check_attributes(KEEPER, "update", "data", "Dog", ["id", "age"], "id")
        error = self.assertRaises(Forbidden, check_attributes, KEEPER, "insert", "data", "Dog",
                                  ["id", "name", "colour", "age"], "id")
        self.assertEqual(error.message, "user 'kim' may not insert age, colour of data.Dog")
        self.assertRaises(Forbidden, check_attributes, KEEPER, "update", "data", "Dog", ["name"], "id")
        self.assertRaises(Forbidden, check_attributes, READER, "insert", "data", "Dog", [], "id")

    def test_may_know(self) -> None:
        """
        A description names the attributes the role may read, insert or update (and the
        key), not those it has no verb on.
        """
        granted = access(KEEPER, "read", "data", "Dog")
        self.assertEqual([granted.may_know(name, "id") for name in ("id", "name", "age", "colour")],
                         [True, True, True, False])
        self.assertTrue(access(READER, "read", "data", "Dog").may_know("colour", "id"))

    def test_locked(self) -> None:
        """
        The stored attributes the role may not update are the ones a replacement keeps.
        """
        granted = access(KEEPER, "read", "data", "Dog")
        stored = {"id": 1, "name": "Rex", "age": 3, "colour": "brown"}
        self.assertEqual(granted.locked(stored, "id"), {"name": "Rex", "colour": "brown"})
        self.assertEqual(granted.locked(None, "id"), {})

    def test_queried_paths(self) -> None:
        """
        Every attribute a query filters on, however nested, and every sort key are named.
        """
        query = Query(
            Group("or", [Condition("name"), Not(Group("and", [Condition(("breed", "origin"))]))]),
            sort=(SortKey("age"),),
        )
        self.assertEqual(sorted(queried_paths(query)), [("age",), ("breed", "origin"), ("name",)])
        self.assertEqual(list(queried_paths(Query())), [])

    def test_check_attribute_read(self) -> None:
        """
        Filtering on an attribute the role may not read is refused, naming it.
        """
        check_attribute_read(KEEPER, "data", "Dog", "name", "id")
        check_attribute_read(KEEPER, "data", "Dog", "id", "id")
        error = self.assertRaises(Forbidden, check_attribute_read, KEEPER, "data", "Dog", "age", "id")
        self.assertEqual(error.message, "user 'kim' may not read age of Dog")
        self.assertRaises(Unauthorized, check_attribute_read, None, "data", "Dog", "age", "id")

    def test_remembered(self) -> None:
        """
        The access of a role to a table is worked out once.
        """
        self.assertIs(KEEPER.role.table_access("data", "Dog"), KEEPER.role.table_access("data", "Dog"))
        self.assertIs(ADMIN.role.table_access("x", "Y"), ADMIN.role.table_access("z", "W"))


class StructureUserTests(SynchronousTestCase):
    """
    L{require_structure_user}.
    """

    def test_structure_user(self) -> None:
        """
        C{structure_user: true} may change every database, a list only those it names;
        super users may everywhere; others, inactive users and nobody may not.
        """
        everywhere = User("s", Role("s", "s", {"structure_user": True}))
        some = User("d", Role("d", "d", {"structure_user": ["dev"]}))
        require_structure_user(everywhere, "data", "create tables")
        require_structure_user(some, "dev", "create tables")
        require_structure_user(ADMIN, "data", "drop tables")
        error = self.assertRaises(Forbidden, require_structure_user, some, "data", "create tables")
        self.assertEqual(error.message, "user 'd' may not create tables in database 'data'")
        self.assertRaises(Forbidden, require_structure_user, READER, "data", "create tables")
        self.assertRaises(Forbidden, require_structure_user, User("o", everywhere.role, active=False),
                          "data", "create tables")
        self.assertRaises(Unauthorized, require_structure_user, None, "data", "create tables")


class CheckPermissionTests(SynchronousTestCase):
    """
    L{check_permission}.
    """

    def test_valid(self) -> None:
        """
        Harper's permission shape is accepted as it is.
        """
        permission = {
            "super_user": False,
            "structure_user": ["data"],
            "data": {"tables": {"Dog": {"read": True, "delete": False,
                                        "attribute_permissions": [{"attribute_name": "age", "read": False}]}}},
        }
        self.assertEqual(check_permission(permission), permission)

    def test_problems_named(self) -> None:
        """
        Every problem is named by its path.
        """
        permission = {
            "super_user": "yes",
            "structure_user": [1],
            "data": {"tables": {"Dog": {"read": 1, "drop": True, "attribute_permissions": [{"read": True}]}},
                     "views": {}},
            "other": [],
        }
        error = self.assertRaises(ValidationError, check_permission, permission)
        self.assertEqual(error.problems, (
            "permission.super_user: expected true or false, got 'yes'",
            "permission.structure_user: expected database names",
            "permission.data.views: unknown; a database permission has only tables",
            "permission.data.tables.Dog.read: expected true or false, got 1",
            "permission.data.tables.Dog.drop: unknown; expected one of read, insert, update, delete "
            "or attribute_permissions",
            "permission.data.tables.Dog.attribute_permissions[0].attribute_name: required (text)",
            "permission.other: expected an object, got list",
        ))

    def test_not_an_object(self) -> None:
        """
        A permission that is not an object is refused.
        """
        error = self.assertRaises(ValidationError, check_permission, ["read"])
        self.assertEqual(error.message, "permission: expected an object, got list")
