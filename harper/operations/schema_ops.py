# -*- test-case-name: tests.operations.test_schema_ops -*-
"""
Describing databases and tables: C{describe_all}, C{describe_database}, C{describe_table}.

Descriptions come from each table resource's own C{describe} (its record count included),
reshaped into the operations API's field names. As in Harper, a user who is not a super user
sees only the tables their role grants something on, and of those only the attributes the role
may read, insert or update (L{harper.auth.roles.TableAccess.may_know}).
"""

from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.defer import Deferred, gatherResults

from harper.auth.permissions import allows, check
from harper.auth.roles import VERBS
from harper.components import catalog
from harper.errors import Forbidden, NotFound
from harper.operations.registry import OperationCall, OperationRegistry
from harper.resources.context import RequestContext
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget

operations = OperationRegistry()


def _visible(user: Any, database: str, table: str) -> bool:
    return any(allows(user, verb, database, table) for verb in VERBS)


def _shaped(described: Mapping[str, Any], resource: TableResource, user: Any) -> dict[str, Any]:
    definition = resource.definition
    primary_key = described["primaryKey"]
    granted = user.role.table_access(resource.table.database, resource.table.name)
    shaped = {
        "schema": described["database"],
        "name": described["name"],
        "hash_attribute": primary_key,
        "audit": resource.history is not None,
        "schema_defined": definition.source != catalog.SOURCE,
        "attributes": [
            {
                "attribute": attribute["name"],
                "type": attribute["type"],
                "indexed": attribute["indexed"],
                "is_primary_key": attribute["name"] == primary_key,
            }
            for attribute in described["attributes"]
            if granted.may_know(attribute["name"], primary_key)
        ],
        "record_count": described["recordCount"],
    }
    if definition.expiration is not None:
        shaped["expiration"] = definition.expiration
    return shaped


def _describe(call: OperationCall, resource: TableResource) -> Deferred[dict[str, Any]]:
    context = RequestContext(user=call.user)
    d = call.scope.caller.call("get", resource, RequestTarget(), context)
    return d.addCallback(_shaped, resource, call.user)


async def _describe_tables(
    call: OperationCall, keys: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    resources = [call.scope.resources[key] for key in keys]
    pending = [_describe(call, resource) for resource in resources]
    described = await gatherResults(pending, consumeErrors=True)
    result: dict[str, dict[str, Any]] = {}
    for (database, table), description in zip(keys, described):
        result.setdefault(database, {})[table] = description
    return result


@operations.register("describe_all")
async def describe_all(call: OperationCall) -> dict[str, Any]:
    """
    Every database the user can see, each as its tables' descriptions.
    """
    keys = sorted(key for key in call.scope.resources if _visible(call.user, *key))
    described = await _describe_tables(call, keys)
    for database in _empty_databases(call):
        described.setdefault(database, {})
    return described


def _empty_databases(call: OperationCall) -> list[str]:
    """
    The databases made by C{create_database} that hold no table yet, for a super user.
    """
    if call.scope.catalog is None or not call.user.super_user:
        return []
    tables = {database for database, _ in call.scope.resources}
    return sorted(call.scope.catalog.databases - tables)


@operations.register("describe_database", "describe_schema")
async def describe_database(call: OperationCall) -> dict[str, Any]:
    """
    The descriptions of the tables of one database.
    """
    database = call.fields.text("database")
    keys = sorted(key for key in call.scope.resources if key[0] == database)
    if not keys and database in _empty_databases(call):
        return {}
    if not keys:
        raise NotFound(f"database {database!r} does not exist")
    visible = [key for key in keys if _visible(call.user, *key)]
    if not visible:
        raise Forbidden(f"user {call.user.username!r} may not see database {database!r}")
    return (await _describe_tables(call, visible))[database]


@operations.register("describe_table")
async def describe_table(call: OperationCall) -> dict[str, Any]:
    """
    The description of one table, with its record count.
    """
    resource = call.scope.requested_table(call.fields)
    if not _visible(call.user, resource.table.database, resource.table.name):
        check(call.user, "read", resource.table.database, resource.table.name)
    return await _describe(call, resource)
