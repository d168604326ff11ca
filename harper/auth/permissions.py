# -*- test-case-name: tests.auth.test_permissions -*-
"""
The permission checks every transport applies before it calls a resource.

C{check(user, "read", "data", "Dog")} returns quietly or raises: L{Unauthorized} when nobody
is logged in, L{Forbidden} when the user's role does not grant the verb on the table.
L{access} does the same and returns what the role may do with the table's attributes.
"""

from __future__ import annotations

from typing import Iterable, Optional

from harper.auth.roles import VERBS, TableAccess, User
from harper.errors import Forbidden, Unauthorized


def allows(user: Optional[User], verb: str, database: str, table: str) -> bool:
    """
    Whether C{user} may C{verb} (one of L{VERBS}) records of C{database.table}.
    """
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r}")
    return user is not None and user.active and user.role.grants(verb, database, table)


def check(user: Optional[User], verb: str, database: str, table: str) -> None:
    """
    Raise unless C{user} may C{verb} records of C{database.table}.

    :raises Unauthorized: when C{user} is C{None}.
    :raises Forbidden: when the user's role does not grant C{verb} on the table.
    """
    access(user, verb, database, table)


def access(user: Optional[User], verb: str, database: str, table: str) -> TableAccess:
    """
    What C{user} may do with C{database.table}, after checking that it may C{verb} its
    records (one remembered lookup per role and table).

    :raises Unauthorized: when C{user} is C{None}.
    :raises Forbidden: when the user's role does not grant C{verb} on the table.
    """
    if user is None:
        raise Unauthorized("authentication is required")
    granted = user.role.table_access(database, table)
    if not (user.active and verb in granted.verbs):
        raise Forbidden(f"user {user.username!r} may not {verb} records of {database}.{table}")
    return granted


def check_attributes(
    user: User, verb: str, database: str, table: str, names: Iterable[str], primary_key: str
) -> None:
    """
    Raise unless C{user} may C{verb} (C{insert} or C{update}) every attribute in C{names}
    (the attributes a write sets) of C{database.table}.

    :raises Forbidden: naming the attributes refused.
    """
    refused = access(user, verb, database, table).refused_attributes(verb, names, primary_key)
    if refused:
        raise Forbidden(
            f"user {user.username!r} may not {verb} {', '.join(refused)} of {database}.{table}"
        )


def require_super_user(user: Optional[User], action: str) -> None:
    """
    Raise unless C{user} is a super user.

    :param action: what the user tried, for the message (C{"add users"}).
    :raises Unauthorized: when C{user} is C{None}.
    :raises Forbidden: when the user is not a super user.
    """
    if user is None:
        raise Unauthorized("authentication is required")
    if not (user.active and user.super_user):
        raise Forbidden(f"only super users may {action}")


def require_structure_user(user: Optional[User], database: str, action: str) -> None:
    """
    Raise unless C{user} may change the structure (databases, tables, attributes) of
    C{database}: a super user, or a role whose C{structure_user} is C{true} or lists
    C{database}.

    :param action: what the user tried, for the message (C{"create tables"}).
    :raises Unauthorized: when C{user} is C{None}.
    :raises Forbidden: when the role may not change C{database}.
    """
    if user is None:
        raise Unauthorized("authentication is required")
    if not (user.active and user.role.may_change_structure(database)):
        raise Forbidden(f"user {user.username!r} may not {action} in database {database!r}")
