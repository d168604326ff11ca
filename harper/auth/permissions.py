# -*- test-case-name: tests.auth.test_permissions -*-
"""
The permission checks every transport applies before it calls a resource.

C{check(user, "read", "data", "Dog")} returns quietly or raises: L{Unauthorized} when nobody
is logged in, L{Forbidden} when the user's role does not grant the verb on the table.
L{access} does the same and returns what the role may do with the table's attributes.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

from harper.auth.roles import VERBS, TableAccess, User
from harper.database.conditions import Condition, Group, Node, Query, Select
from harper.database.query import RelatedTables
from harper.database.table import Table
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


def queried_paths(query: Query) -> Iterator[tuple[str, ...]]:
    """
    The attribute paths C{query} filters or sorts on (a path longer than one goes through
    relationships): a role must be able to read each, or the answers would let it probe
    values it may not see.
    """
    pending: list[Optional[Node]] = [query.conditions]
    while pending:
        node = pending.pop()
        if isinstance(node, Condition):
            yield node.attribute
        elif isinstance(node, Group):
            pending.extend(node.conditions)
        elif node is not None:
            pending.append(node.condition)
    for key in query.sort:
        yield key.attribute


def check_read(
    user: Optional[User], table: Table, related: RelatedTables, attribute: Optional[str], query: Query
) -> TableAccess:
    """
    Raise unless C{user} may read records of C{table}, the C{attribute} asked for (if any),
    every attribute C{query} filters or sorts on (through relationships: the related tables
    and their attributes too) and the related tables its selection pulls records from;
    return what the user may do with C{table}.

    :raises Unauthorized: when C{user} is C{None}.
    :raises Forbidden: naming the table or the attribute refused.
    """
    granted = access(user, "read", table.database, table.name)
    if attribute is None and query.conditions is None and not query.sort and query.select is None:
        return granted  # the common case, kept cheap: a record or a whole collection
    if attribute is not None:
        _check_path(user, granted, table, related, (attribute,))
    _check_filters(user, granted, table, related, query)
    if query.select is not None:
        _check_selected(user, granted, table, related, query.select)
    return granted


def check_filters(user: User, table: Table, related: RelatedTables, query: Query) -> None:
    """
    Raise unless C{user} may read every attribute C{query} filters or sorts on (for a
    write whose target is a query, as C{DELETE /Dog/?age=lt=2} is): the table's verbs are
    checked apart.

    :raises Forbidden: naming the table or the attribute refused.
    """
    granted = user.role.table_access(table.database, table.name)
    _check_filters(user, granted, table, related, query)


def _check_filters(
    user: User, granted: TableAccess, table: Table, related: RelatedTables, query: Query
) -> None:
    for path in queried_paths(query):
        _check_path(user, granted, table, related, path)


def _check_selected(
    user: User, granted: TableAccess, table: Table, related: RelatedTables, select: Select
) -> None:
    """
    Raise unless C{user} may read the related tables the readable relationship attributes
    of C{select} lead to (the attributes it may not read are left out of the answer).
    """
    for field in select.fields:
        attribute = table.definition.attribute(field.name)
        if attribute is None or attribute.relationship is None:
            continue
        if not granted.may_read(field.name, table.primary_key):
            continue
        other = related(attribute.relationship.target)
        other_granted = access(user, "read", other.database, other.name)
        if field.select is not None:
            _check_selected(user, other_granted, other, related, field.select)


def _check_path(
    user: User, granted: TableAccess, table: Table, related: RelatedTables, path: tuple[str, ...]
) -> None:
    for depth, name in enumerate(path):
        _check_attribute(user, granted, table.name, name, table.primary_key)
        attribute = table.definition.attribute(name)
        if depth + 1 == len(path) or attribute is None or attribute.relationship is None:
            return
        table = related(attribute.relationship.target)
        granted = access(user, "read", table.database, table.name)


def check_attribute_read(
    user: Optional[User], database: str, table: str, name: str, primary_key: str
) -> None:
    """
    Raise unless C{user}'s role lets it read attribute C{name} of C{database.table} (the
    table's verbs are not checked here), for a statement that filters on it.

    :raises Unauthorized: when C{user} is C{None}.
    :raises Forbidden: naming the attribute.
    """
    if user is None:
        raise Unauthorized("authentication is required")
    _check_attribute(user, user.role.table_access(database, table), table, name, primary_key)


def _check_attribute(user: User, granted: TableAccess, table: str, name: str, primary_key: str) -> None:
    if not granted.may_read(name, primary_key):
        raise Forbidden(f"user {user.username!r} may not read {name} of {table}")


def reader(user: Optional[User]) -> Callable[[Table], TableAccess]:
    """
    What C{user} may do with a table it reads records of (for the related records a
    selection pulls in): C{reader(user)(table)} raises as L{access} does.
    """

    def read(table: Table) -> TableAccess:
        return access(user, "read", table.database, table.name)

    return read


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
