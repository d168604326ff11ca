# -*- test-case-name: tests.plugins.test_roles -*-
"""
The C{roles} plugin: C{roles: {files: roles.yaml}} creates the roles a YAML file defines, or
updates their permissions, when the daemon starts.

The file maps role names to Harper's component role shape::

    reader:
      data:                     # a database
        Dog: {read: true, attributes: {name: {read: true, update: false}}}
    admin:
      super_user: true

which becomes the permission document of L{harper.auth.roles} (C{{"data": {"tables":
{"Dog": {"read": true, "attribute_permissions": [...]}}}}}). Every file is checked while the
application loads; a mistake names the file and the role.
"""

from __future__ import annotations

from typing import Any, Mapping

import yaml
from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger
from zope.interface import implementer

from harper.errors import ComponentError, ValidationError
from harper.interfaces import IApplicationScope, IHarperPlugin
from harper.auth.roles import check_permission
from harper.plugins.base import OptionsPlugin

_FLAGS = ("super_user", "structure_user")


def _table(entry: Any) -> Any:
    if not isinstance(entry, Mapping) or "attributes" not in entry:
        return entry
    table = {key: value for key, value in entry.items() if key != "attributes"}
    attributes = entry["attributes"]
    if not isinstance(attributes, Mapping):
        raise ValidationError(["attributes: expected a mapping of attribute names"])
    table["attribute_permissions"] = [
        {"attribute_name": name, **(verbs if isinstance(verbs, Mapping) else {"read": verbs})}
        for name, verbs in attributes.items()
    ]
    return table


def permission_of(definition: Any) -> dict[str, Any]:
    """
    The checked permission document of one role of a roles file.

    :raises ValidationError: naming every problem.
    """
    if not isinstance(definition, Mapping):
        raise ValidationError([f"expected a mapping of databases, got {definition!r}"])
    permission: dict[str, Any] = {}
    for key, value in definition.items():
        if key in _FLAGS or (isinstance(value, Mapping) and "tables" in value):
            permission[key] = value
        elif isinstance(value, Mapping):
            permission[key] = {"tables": {table: _table(entry) for table, entry in value.items()}}
        else:
            raise ValidationError([f"{key}: expected a mapping of tables, got {value!r}"])
    return check_permission(permission)


def read_roles(text: str, source: str) -> dict[str, dict[str, Any]]:
    """
    The permission documents of a roles file, by role name.

    :raises ComponentError: naming C{source} and each role with a problem.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ComponentError([f"{source}: malformed YAML: {error}"]) from error
    if not isinstance(document, Mapping):
        raise ComponentError([f"{source}: expected a mapping of role names to permissions"])
    roles, problems = {}, []
    for name, definition in document.items():
        try:
            roles[str(name)] = permission_of(definition)
        except ValidationError as error:
            problems.extend(f"{source}: role {name}: {problem}" for problem in error.problems)
    if problems:
        raise ComponentError(problems)
    return roles


def apply_roles(users: Any, roles: Mapping[str, Mapping[str, Any]]) -> Deferred:
    """
    Create each role of C{roles} through C{users} (L{harper.auth.users.Users}), or replace
    the permission of the role of that name; fire when all are stored.
    """

    def store(existing: list) -> Deferred:
        by_name = {role.name: role for role in existing}
        return gatherResults([
            users.alter_role(by_name[name].id, permission=permission) if name in by_name
            else users.add_role(name, permission)
            for name, permission in roles.items()
        ], consumeErrors=True)

    return users.list_roles().addCallback(store)


@implementer(IHarperPlugin)
class RolesPlugin(OptionsPlugin):
    """
    C{roles}: create or update the roles of the YAML files of C{files} (default
    C{roles.yaml}) on start.
    """

    name = "roles"
    known = {"files": (str, list)}
    _log = Logger()

    def handle_application(self, application: IApplicationScope, options: Any) -> None:
        if options is False:
            return
        roles: dict[str, dict[str, Any]] = {}
        for path in application.files(self.options(options).get("files", "roles.yaml")):
            roles.update(read_roles(path.getContent().decode("utf-8"), path.path))
        if roles:
            application.on_start(lambda runtime: self._apply(runtime, roles))

    def _apply(self, runtime: Any, roles: Mapping[str, Mapping[str, Any]]) -> Deferred:
        def failed(failure: Any) -> None:
            self._log.failure("roles: storing {names} failed", failure, names=sorted(roles))

        return apply_roles(runtime.access.users, roles).addErrback(failed)
