# -*- test-case-name: tests.auth.test_users -*-
"""
The users and roles of the daemon, kept in the C{system} database's C{hdb_user} and
C{hdb_role} tables and changed only through L{Users}.

A user record holds the username, the argon2id hash of the password, the C{id} of its role
and whether it is active. Every method runs in one transaction on the database thread pool
(password hashing included, so the reactor thread never waits for it) and returns a Deferred.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Mapping, Optional, TypeVar

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from harper.auth.passwords import PasswordHashing
from harper.auth.roles import SUPER_USER_ROLE, Role, User, check_permission
from harper.database.conditions import Condition, Query
from harper.database.query import QueryExecutor
from harper.database.table import Table
from harper.database.transaction import Transaction, TransactionRunner
from harper.errors import Conflict, InvalidInput, NotFound
from harper.schema.model import Schema
from harper.schema.validate import validate_record

T = TypeVar("T")


def _no_relationships(type_name: str) -> Table:
    raise LookupError(f"system tables have no relationship to {type_name}")


def check_username(username: str) -> str:
    """
    Return C{username} if it can be used to log in (not empty, no colon: Basic credentials
    split at the first one).

    :raises InvalidInput: naming the C{username} field.
    """
    if not username or ":" in username or username != username.strip():
        raise InvalidInput("username: must be non-empty text without ':' or surrounding spaces")
    return username


def check_password(password: str) -> str:
    """
    Return C{password} if it is not empty.

    :raises InvalidInput: naming the C{password} field.
    """
    if not password:
        raise InvalidInput("password: must not be empty")
    return password


class Users:
    """
    Adds, changes, removes and checks users and roles.

    :param runner: runs the transactions.
    :param user_table: the C{hdb_user} table.
    :param role_table: the C{hdb_role} table.
    :param passwords: hashes and checks passwords.
    :ivar version: incremented each time a user or role changes, so that caches of
        authenticated users know when to forget them.
    """

    _log = Logger()

    def __init__(
        self,
        runner: TransactionRunner,
        user_table: Table,
        role_table: Table,
        passwords: PasswordHashing,
    ) -> None:
        self._runner = runner
        self._user_table = user_table
        self._role_table = role_table
        self.passwords = passwords
        self.version = 0

    # -- roles ---------------------------------------------------------------------------

    def add_role(
        self, name: str, permission: Mapping[str, Any], id: Optional[str] = None
    ) -> Deferred[Role]:
        """
        Create a role; L{Conflict} when the name or id is taken.
        """
        checked = check_permission(permission)

        def work(txn: Transaction) -> Role:
            if self._role_named(txn, name) is not None:
                raise Conflict(f"a role named {name!r} already exists")
            role = Role(id or str(uuid.uuid4()), name, checked)
            if self._role_table.get(txn, role.id) is not None:
                raise Conflict(f"a role with id {role.id!r} already exists")
            self._store_role(txn, role)
            return role

        return self._write(work)

    def alter_role(
        self,
        id: str,
        name: Optional[str] = None,
        permission: Optional[Mapping[str, Any]] = None,
    ) -> Deferred[Role]:
        """
        Rename a role or replace its permission; L{NotFound} when there is no role C{id}.
        """
        checked = check_permission(permission) if permission is not None else None

        def work(txn: Transaction) -> Role:
            role = self._role(txn, id)
            if name is not None and name != role.name and self._role_named(txn, name) is not None:
                raise Conflict(f"a role named {name!r} already exists")
            changed = Role(role.id, name if name is not None else role.name,
                           checked if checked is not None else role.permission)
            self._store_role(txn, changed)
            return changed

        return self._write(work)

    def drop_role(self, id: str) -> Deferred[Role]:
        """
        Remove the role C{id}; L{Conflict} while users still have it.
        """

        def work(txn: Transaction) -> Role:
            role = self._role(txn, id)
            holders = self._users_with_role(txn, role.id)
            if holders:
                raise Conflict(f"role {role.name!r} is still held by {', '.join(sorted(holders))}")
            self._role_table.delete(txn, role.id)
            return role

        return self._write(work)

    def list_roles(self) -> Deferred[list[Role]]:
        """
        Every role, ordered by id.
        """
        return self._runner.run(
            lambda txn: [self._role_from(entry.value) for entry in self._role_table.scan(txn)]
        )

    # -- users ---------------------------------------------------------------------------

    def add_user(
        self, username: str, password: str, role: str, active: bool = True
    ) -> Deferred[User]:
        """
        Create a user with the role named C{role}; L{Conflict} when the username is taken,
        L{InvalidInput} when there is no such role.
        """
        check_username(username)
        check_password(password)

        def work(txn: Transaction) -> User:
            if self._user_table.get(txn, username) is not None:
                raise Conflict(f"user {username!r} already exists")
            found = self._role_for_user(txn, role)
            self._store_user(txn, username, self.passwords.hash(password), found.id, active)
            return User(username, found, active)

        return self._write(work)

    def alter_user(
        self,
        username: str,
        *,
        password: Optional[str] = None,
        role: Optional[str] = None,
        active: Optional[bool] = None,
    ) -> Deferred[User]:
        """
        Change a user's password, role or active flag; L{NotFound} when there is no such user.
        """
        if password is not None:
            check_password(password)

        def work(txn: Transaction) -> User:
            record = self._user_record(txn, username)
            if role is not None:
                found = self._role_for_user(txn, role)
            else:
                found = self._role_or_none(txn, record["role"])
            hashed = self.passwords.hash(password) if password is not None else record["password"]
            now_active = record["active"] if active is None else active
            self._store_user(txn, username, hashed, found.id, now_active)
            return User(username, found, now_active)

        return self._write(work)

    def drop_user(self, username: str) -> Deferred[None]:
        """
        Remove a user; L{NotFound} when there is no such user.
        """

        def work(txn: Transaction) -> None:
            self._user_record(txn, username)
            self._user_table.delete(txn, username)

        return self._write(work)

    def list_users(self) -> Deferred[list[User]]:
        """
        Every user, ordered by username.
        """
        return self._runner.run(
            lambda txn: [self._user_from(txn, entry.value) for entry in self._user_table.scan(txn)]
        )

    def get_user(self, username: str) -> Deferred[Optional[User]]:
        """
        The user called C{username} (active or not), or C{None}.
        """

        def work(txn: Transaction) -> Optional[User]:
            record = self._user_table.get(txn, username)
            return self._user_from(txn, record) if record is not None else None

        return self._runner.run(work)

    def verify(self, username: str, password: str) -> Deferred[Optional[User]]:
        """
        The active user C{username} if C{password} is theirs, else C{None}. The check takes
        the same time whether or not the user exists.
        """

        def work(txn: Transaction) -> Optional[User]:
            record = self._user_table.get(txn, username)
            stored = record["password"] if record is not None else None
            matched = self.passwords.verify(stored, password)
            if not matched or record is None or not record["active"]:
                return None
            return self._user_from(txn, record)

        return self._runner.run(work)

    # -- start-up ------------------------------------------------------------------------

    def bootstrap(self, admin: Optional[tuple[str, str]]) -> None:
        """
        Make sure the C{super_user} role exists and, when there is no user yet and C{admin}
        is given, create that super user (blocking: call at start-up only).
        """

        def work(txn: Transaction) -> None:
            if self._role_named(txn, SUPER_USER_ROLE) is None:
                self._store_role(txn, Role(SUPER_USER_ROLE, SUPER_USER_ROLE, {"super_user": True}))
            if admin is not None and self._user_table.count(txn) == 0:
                username, password = check_username(admin[0]), check_password(admin[1])
                hashed = self.passwords.hash(password)
                self._store_user(txn, username, hashed, SUPER_USER_ROLE, True)
                self._log.info("created the super user {username}", username=username)

        self._runner.run_blocking(work)

    # -- helpers -------------------------------------------------------------------------

    def _write(self, work: Callable[[Transaction], T]) -> Deferred[T]:
        def changed(result: T) -> T:
            self.version += 1
            return result

        return self._runner.run(work).addCallback(changed)

    def _store_user(
        self, txn: Transaction, username: str, hashed: str, role_id: str, active: bool
    ) -> None:
        record = {"username": username, "password": hashed, "role": role_id, "active": active}
        self._user_table.put(txn, validate_record(record, self._user_table.definition, Schema()))

    def _store_role(self, txn: Transaction, role: Role) -> None:
        record = {"id": role.id, "role": role.name, "permission": dict(role.permission)}
        self._role_table.put(txn, validate_record(record, self._role_table.definition, Schema()))

    def _user_record(self, txn: Transaction, username: str) -> Mapping[str, Any]:
        record = self._user_table.get(txn, username)
        if record is None:
            raise NotFound(f"user {username!r} does not exist")
        return record

    def _user_from(self, txn: Transaction, record: Mapping[str, Any]) -> User:
        return User(record["username"], self._role_or_none(txn, record["role"]), record["active"])

    def _role(self, txn: Transaction, id: str) -> Role:
        record = self._role_table.get(txn, id)
        if record is None:
            raise NotFound(f"role {id!r} does not exist")
        return self._role_from(record)

    def _role_or_none(self, txn: Transaction, id: str) -> Role:
        record = self._role_table.get(txn, id)
        return self._role_from(record) if record is not None else Role(id, id, {})

    def _role_for_user(self, txn: Transaction, name: str) -> Role:
        role = self._role_named(txn, name)
        if role is None:
            raise InvalidInput(f"role: there is no role named {name!r}")
        return role

    def _role_named(self, txn: Transaction, name: str) -> Optional[Role]:
        found = self._matching(txn, self._role_table, "role", name)
        return self._role_from(found[0]) if found else None

    def _users_with_role(self, txn: Transaction, role_id: str) -> list[str]:
        holders = self._matching(txn, self._user_table, "role", role_id)
        return [record["username"] for record in holders]

    def _matching(self, txn: Transaction, table: Table, attribute: str, value: str) -> list[dict]:
        query = Query(Condition((attribute,), "equals", value))
        return list(QueryExecutor(txn, table, _no_relationships).run(query))

    @staticmethod
    def _role_from(record: Mapping[str, Any]) -> Role:
        return Role(record["id"], record["role"], record["permission"])
