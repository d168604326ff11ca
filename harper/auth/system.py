# -*- test-case-name: tests.auth.test_users -*-
"""
The tables of the C{system} database that hold users, roles and login sessions, defined in
code and created by the same migration as the applications' tables.
"""

from __future__ import annotations

from harper.database.table import Table
from harper.schema.model import AttributeDefinition, TableDefinition, TypeRef

#: The database holding harper's own tables.
SYSTEM_DATABASE = "system"

USER_TABLE = TableDefinition(
    type_name="hdb_user",
    name="hdb_user",
    database=SYSTEM_DATABASE,
    attributes=(
        AttributeDefinition("username", TypeRef("String"), primary_key=True),
        AttributeDefinition("password", TypeRef("String", nullable=False)),
        AttributeDefinition("role", TypeRef("String", nullable=False), indexed=True),
        AttributeDefinition("active", TypeRef("Boolean", nullable=False)),
    ),
    replicate=False,
    sealed=True,
)

ROLE_TABLE = TableDefinition(
    type_name="hdb_role",
    name="hdb_role",
    database=SYSTEM_DATABASE,
    attributes=(
        AttributeDefinition("id", TypeRef("String"), primary_key=True),
        AttributeDefinition("role", TypeRef("String", nullable=False), indexed=True),
        AttributeDefinition("permission", TypeRef("Any", nullable=False)),
    ),
    replicate=False,
    sealed=True,
)

#: Cookie sessions by the SHA-256 of their secret (the secret itself is never stored).
SESSION_TABLE = TableDefinition(
    type_name="hdb_session",
    name="hdb_session",
    database=SYSTEM_DATABASE,
    attributes=(
        AttributeDefinition("id", TypeRef("String"), primary_key=True),
        AttributeDefinition("username", TypeRef("String", nullable=False), indexed=True),
        AttributeDefinition("expires", TypeRef("Float", nullable=False)),
    ),
    replicate=False,
    sealed=True,
)


def system_tables() -> list[Table]:
    """
    New L{Table} objects for the user, role and session tables, in that order (give them to
    L{harper.database.migrate.migrate} with the other tables).
    """
    return [Table(USER_TABLE), Table(ROLE_TABLE), Table(SESSION_TABLE)]
