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

from typing import Any, Mapping, Optional, Union

import attr

from harper.errors import ValidationError

#: The operations a role grants per table.
VERBS = ("read", "insert", "update", "delete")

#: The role every installation has; its users may do anything.
SUPER_USER_ROLE = "super_user"

_ATTRIBUTE_VERBS = ("read", "insert", "update")
_ROLE_FLAGS = ("super_user", "structure_user")


@attr.frozen
class TableAccess:
    """
    What a role may do with the records of one table.

    :ivar verbs: the table verbs granted (some of L{VERBS}).
    :ivar attributes: when the role lists C{attribute_permissions} for the table, the
        attribute verbs (C{read}, C{insert}, C{update}) granted per listed attribute; the
        attributes it does not list are locked. C{None} when every attribute follows the
        table's verbs.
    """

    verbs: frozenset[str]
    attributes: Optional[Mapping[str, frozenset[str]]] = None

    def may_read(self, name: str, primary_key: str) -> bool:
        """
        Whether the role may read attribute C{name} (the primary key always).
        """
        attributes = self.attributes
        return attributes is None or name == primary_key or "read" in attributes.get(name, ())

    def may_know(self, name: str, primary_key: str) -> bool:
        """
        Whether the role may see that attribute C{name} exists (in a table's description):
        it may read, insert or update it (the primary key always), as in Harper.
        """
        attributes = self.attributes
        return attributes is None or name == primary_key or bool(attributes.get(name))

    def visible(self, record: Any, primary_key: str) -> Any:
        """
        C{record} as the role may see it: without the attributes it may not read (the
        primary key always stays); anything but a mapping is returned as it is.
        """
        attributes = self.attributes
        if attributes is None or not isinstance(record, Mapping):
            return record
        return {
            name: value for name, value in record.items()
            if name == primary_key or "read" in attributes.get(name, ())
        }

    def locked(self, stored: Optional[Mapping[str, Any]], primary_key: str) -> dict[str, Any]:
        """
        The attributes of the C{stored} record (C{None}: none yet) the role may not update,
        with their values: a replacement by the role keeps them.
        """
        if stored is None:
            return {}
        return {name: stored[name] for name in self.refused_attributes("update", stored, primary_key)}

    def refused_attributes(self, verb: str, names: Any, primary_key: str) -> list[str]:
        """
        The names among C{names} (the attributes a write sets) the role may not C{verb}
        (C{"insert"} or C{"update"}); the primary key is never refused.
        """
        attributes = self.attributes
        if attributes is None:
            return []
        return sorted(
            name for name in names
            if name != primary_key and verb not in attributes.get(name, ())
        )


_NO_ACCESS = TableAccess(frozenset())
_ALL_ACCESS = TableAccess(frozenset(VERBS))


def _table_access(entry: Mapping[str, Any]) -> TableAccess:
    verbs = frozenset(verb for verb in VERBS if entry.get(verb) is True)
    listed = entry.get("attribute_permissions") or None
    if listed is None:
        return TableAccess(verbs)
    attributes = {
        item["attribute_name"]: frozenset(v for v in _ATTRIBUTE_VERBS if item.get(v) is True)
        for item in listed
    }
    return TableAccess(verbs, attributes)


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
    _access: dict[tuple[str, str], TableAccess] = attr.field(
        factory=dict, init=False, eq=False, repr=False
    )

    @property
    def super_user(self) -> bool:
        """
        Whether the role may do everything.
        """
        return self.permission.get("super_user") is True

    def may_change_structure(self, database: str) -> bool:
        """
        Whether the role may create and drop databases, tables and attributes in
        C{database}: super users may everywhere; C{structure_user} is C{true} (every
        database) or a list of database names.
        """
        if self.super_user:
            return True
        structure = self.permission.get("structure_user")
        return structure is True or (isinstance(structure, list) and database in structure)

    def grants(self, verb: str, database: str, table: str) -> bool:
        """
        Whether the role lets its users C{verb} records of C{database.table}.
        """
        return verb in self.table_access(database, table).verbs

    def table_access(self, database: str, table: str) -> TableAccess:
        """
        What the role may do with C{database.table} (worked out once per table, then
        remembered: every request asks).
        """
        key = (database, table)
        access = self._access.get(key)
        if access is None:
            if self.super_user:
                access = _ALL_ACCESS
            else:
                entry = self.permission.get(database, {}).get("tables", {}).get(table)
                access = _table_access(entry) if entry is not None else _NO_ACCESS
            self._access[key] = access
        return access

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
