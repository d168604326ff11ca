# -*- test-case-name: tests.operations.test_structure_ops -*-
"""
Changing the structure: C{create_database}, C{drop_database}, C{create_table},
C{drop_table}, C{create_attribute}, C{drop_attribute} (super users, and structure users for
the databases their role names).

The tables made here are dynamic and kept by L{harper.components.catalog.Catalog}; tables an
application's schema declares are refused (change the schema instead).
"""

from __future__ import annotations

from typing import Optional

from harper.auth.permissions import require_structure_user
from harper.components.catalog import checked_name, dynamic_definition
from harper.errors import InvalidInput
from harper.operations.fields import Fields
from harper.operations.registry import OperationCall, OperationRegistry
from harper.operations.scope import DEFAULT_DATABASE

operations = OperationRegistry()


def _database(fields: Fields, required: bool = False) -> str:
    """
    The request's C{database}: required for the database operations, else C{data} by default.
    """
    if required:
        return checked_name("database", fields.text("database"))
    return checked_name("database", fields.text("database", DEFAULT_DATABASE))


def _attribute_names(fields: Fields, primary_key: str) -> list[str]:
    """
    The C{attributes} of C{create_table}: names, or objects with a C{name} (as Harper's
    clients send), without the primary key, each once.
    """
    names: list[str] = []
    for index, value in enumerate(fields.list("attributes", [])):
        if isinstance(value, dict):
            value = value.get("name", value.get("attribute"))
        if not isinstance(value, str):
            raise InvalidInput(
                f"attributes[{index}]: expected an attribute name or {{\"name\": ...}}"
            )
        name = checked_name(f"attributes[{index}]", value)
        if name in names:
            raise InvalidInput(f"attributes[{index}]: {name!r} is listed twice")
        if name != primary_key:
            names.append(name)
    return names


def _expiration(fields: Fields) -> Optional[float]:
    value = fields.value("expiration", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInput(f"expiration: expected a positive number of seconds, got {value!r}")
    return float(value)


def _done(message: str) -> dict[str, str]:
    return {"message": message}


@operations.register("create_database", "create_schema")
async def create_database(call: OperationCall) -> dict[str, str]:
    """
    Create an empty database.
    """
    database = _database(call.fields, required=True)
    require_structure_user(call.user, database, "create databases")
    await call.scope.catalog.create_database(database)
    return _done(f"database '{database}' successfully created")


@operations.register("drop_database", "drop_schema")
async def drop_database(call: OperationCall) -> dict[str, str]:
    """
    Drop a database with its tables and their records.
    """
    database = _database(call.fields, required=True)
    require_structure_user(call.user, database, "drop databases")
    await call.scope.catalog.drop_database(database)
    return _done(f"successfully deleted database '{database}'")


@operations.register("create_table")
async def create_table(call: OperationCall) -> dict[str, str]:
    """
    Create a dynamic table with a primary key, optional indexed C{attributes} and an optional
    C{expiration} (seconds).
    """
    fields = call.fields
    database = _database(fields)
    table = checked_name("table", fields.text("table"))
    primary_key = checked_name("primary_key", fields.text("primary_key"))
    attributes = _attribute_names(fields, primary_key)
    expiration = _expiration(fields)
    require_structure_user(call.user, database, "create tables")
    definition = dynamic_definition(database, table, primary_key, attributes, expiration)
    await call.scope.catalog.create_table(definition)
    return _done(f"table '{database}.{table}' successfully created.")


@operations.register("drop_table")
async def drop_table(call: OperationCall) -> dict[str, str]:
    """
    Drop a dynamic table and its records.
    """
    database = _database(call.fields)
    table = checked_name("table", call.fields.text("table"))
    require_structure_user(call.user, database, "drop tables")
    await call.scope.catalog.drop_table(database, table)
    return _done(f"successfully deleted table '{database}.{table}'")


@operations.register("create_attribute")
async def create_attribute(call: OperationCall) -> dict[str, str]:
    """
    Add an indexed attribute to a dynamic table.
    """
    database = _database(call.fields)
    table = checked_name("table", call.fields.text("table"))
    attribute = checked_name("attribute", call.fields.text("attribute"))
    require_structure_user(call.user, database, "create attributes")
    await call.scope.catalog.create_attribute(database, table, attribute)
    return _done(f"attribute '{attribute}' successfully created.")


@operations.register("drop_attribute")
async def drop_attribute(call: OperationCall) -> dict[str, str]:
    """
    Remove an attribute from a dynamic table: its index and its values.
    """
    database = _database(call.fields)
    table = checked_name("table", call.fields.text("table"))
    attribute = checked_name("attribute", call.fields.text("attribute"))
    require_structure_user(call.user, database, "drop attributes")
    await call.scope.catalog.drop_attribute(database, table, attribute)
    return _done(f"successfully deleted attribute '{attribute}'")
