# -*- test-case-name: tests.auth.test_permissions -*-
"""
Users and roles as values, and the checking of a role's permission document.

A permission document has Harper's shape::

    {"super_user": false, "structure_user": false,
     "dev": {"tables": {"Dog": {"read": true, "insert": false, "update": false, "delete": false,
                                "attribute_permissions": []}}}}

Every key other than C{super_user} and C{structure_user} names a database.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

import attr

from harper.errors import ValidationError

#: The operations a role grants per table.
VERBS = ("read", "insert", "update", "delete")

#: The role every installation has; its users may do anything.
SUPER_USER_ROLE = "super_user"

_ATTRIBUTE_VERBS = ("read", "insert", "update")
_ROLE_FLAGS = ("super_user", "structure_user")


@attr.frozen
class Role:
    """
    A named set of permissions.

    :ivar id: the role's key in the role table.
    :ivar name: the name users refer to it by.
    :ivar permission: the checked permission document.
    """

    id: str
    name: str
    permission: Mapping[str, Any]

    @property
    def super_user(self) -> bool:
        """
        Whether the role may do everything.
        """
        return self.permission.get("super_user") is True

    def grants(self, verb: str, database: str, table: str) -> bool:
        """
        Whether the role lets its users C{verb} records of C{database.table}.
        """
        if self.super_user:
            return True
        tables = self.permission.get(database, {}).get("tables", {})
        return tables.get(table, {}).get(verb) is True

    def describe(self) -> dict[str, Any]:
        """
        The role as the operations API shows it.
        """
        return {"id": self.id, "role": self.name, "permission": dict(self.permission)}


@attr.frozen
class User:
    """
    An authenticated user.

    :ivar username: the login name.
    :ivar role: the user's role.
    :ivar active: whether the user may log in.
    """

    username: str
    role: Role
    active: bool = True

    @property
    def super_user(self) -> bool:
        """
        Whether the user may do everything.
        """
        return self.role.super_user

    def describe(self) -> dict[str, Any]:
        """
        The user as the operations API shows it (never with the password hash).
        """
        return {"username": self.username, "active": self.active, "role": self.role.describe()}


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def expect_boolean(self, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            self.lines.append(f"{where}: expected true or false, got {value!r}")

    def expect_mapping(self, value: Any, where: str) -> bool:
        if not isinstance(value, Mapping):
            self.lines.append(f"{where}: expected an object, got {type(value).__name__}")
            return False
        return True


def _check_structure_user(value: Union[bool, list], problems: _Problems) -> None:
    if isinstance(value, list):
        if not all(isinstance(name, str) for name in value):
            problems.lines.append("permission.structure_user: expected database names")
        return
    problems.expect_boolean(value, "permission.structure_user")


def _check_attributes(value: Any, where: str, problems: _Problems) -> None:
    if not isinstance(value, list):
        problems.lines.append(f"{where}: expected a list, got {type(value).__name__}")
        return
    for index, entry in enumerate(value):
        at = f"{where}[{index}]"
        if not problems.expect_mapping(entry, at):
            continue
        if not isinstance(entry.get("attribute_name"), str):
            problems.lines.append(f"{at}.attribute_name: required (text)")
        for verb in _ATTRIBUTE_VERBS:
            if verb in entry:
                problems.expect_boolean(entry[verb], f"{at}.{verb}")


def _check_table(value: Any, where: str, problems: _Problems) -> None:
    if not problems.expect_mapping(value, where):
        return
    for key, item in value.items():
        if key in VERBS:
            problems.expect_boolean(item, f"{where}.{key}")
        elif key == "attribute_permissions":
            _check_attributes(item, f"{where}.{key}", problems)
        else:
            problems.lines.append(f"{where}.{key}: unknown; expected one of {', '.join(VERBS)} "
                                  "or attribute_permissions")


def _check_database(value: Any, where: str, problems: _Problems) -> None:
    if not problems.expect_mapping(value, where):
        return
    unknown = sorted(set(value) - {"tables"})
    if unknown:
        problems.lines.append(
            f"{where}.{unknown[0]}: unknown; a database permission has only tables"
        )
    tables = value.get("tables", {})
    if problems.expect_mapping(tables, f"{where}.tables"):
        for table, entry in tables.items():
            _check_table(entry, f"{where}.tables.{table}", problems)


def check_permission(permission: Any) -> dict[str, Any]:
    """
    Check a role's permission document and return it as a plain dict.

    :raises ValidationError: naming every problem by its path, for example
        C{"permission.dev.tables.Dog.read: expected true or false, got 'yes'"}.
    """
    problems = _Problems()
    if not problems.expect_mapping(permission, "permission"):
        raise ValidationError(problems.lines)
    for key, value in permission.items():
        if key == "super_user":
            problems.expect_boolean(value, "permission.super_user")
        elif key == "structure_user":
            _check_structure_user(value, problems)
        else:
            _check_database(value, f"permission.{key}", problems)
    if problems.lines:
        raise ValidationError(problems.lines)
    return dict(permission)
