# -*- test-case-name: tests.auth.test_permissions -*-
"""
The permission checks every transport applies before it calls a resource.

C{check(user, "read", "data", "Dog")} returns quietly or raises: L{Unauthorized} when nobody
is logged in, L{Forbidden} when the user's role does not grant the verb on the table.
"""

from __future__ import annotations

from typing import Optional

from harper.auth.roles import VERBS, User
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
    if user is None:
        raise Unauthorized("authentication is required")
    if not allows(user, verb, database, table):
        raise Forbidden(f"user {user.username!r} may not {verb} records of {database}.{table}")


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
