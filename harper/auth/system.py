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


def system_table(name: str, *attributes: AttributeDefinition) -> TableDefinition:
    """
    The definition of harper's own table C{system.name}: sealed (no attributes beyond
    C{attributes}) and never replicated.
    """
    return TableDefinition(
        type_name=name,
        name=name,
        database=SYSTEM_DATABASE,
        attributes=attributes,
        replicate=False,
        sealed=True,
    )


USER_TABLE = system_table(
    "hdb_user",
    AttributeDefinition("username", TypeRef("String"), primary_key=True),
    AttributeDefinition("password", TypeRef("String", nullable=False)),
    AttributeDefinition("role", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("active", TypeRef("Boolean", nullable=False)),
)

ROLE_TABLE = system_table(
    "hdb_role",
    AttributeDefinition("id", TypeRef("String"), primary_key=True),
    AttributeDefinition("role", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("permission", TypeRef("Any", nullable=False)),
)

#: Cookie sessions by the SHA-256 of their secret (the secret itself is never stored).
SESSION_TABLE = system_table(
    "hdb_session",
    AttributeDefinition("id", TypeRef("String"), primary_key=True),
    AttributeDefinition("username", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("expires", TypeRef("Float", nullable=False)),
)


def system_tables() -> list[Table]:
    """
    New L{Table} objects for the user, role and session tables, in that order (give them to
    L{harper.database.migrate.migrate} with the other tables).
    """
    return [Table(USER_TABLE), Table(ROLE_TABLE), Table(SESSION_TABLE)]
