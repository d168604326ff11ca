# -*- test-case-name: tests.operations.test_sql -*-
"""
The C{sql} operation: one SQL statement planned by L{harper.operations.sql.plan} and run
by L{harper.operations.sql.execute} in one transaction, with the same permission check as
every resource call (L{harper.resources.calls.authorize}): a C{SELECT} is a C{search} of each
table, an C{INSERT} a C{post} of each record, an C{UPDATE} a C{patch} with its changes, a
C{DELETE} a C{delete}; a statement that selects, joins, groups, orders or filters on a column
the user's role may not read is refused, and the attributes it may not read are left out of
C{SELECT *} rows.
"""

from __future__ import annotations

from typing import Any, Collection

from twisted.internet.defer import Deferred

from harper.auth.permissions import check_attribute_read
from harper.operations.registry import OperationCall, OperationRegistry
from harper.operations.scope import OperationScope
from harper.operations.sql.execute import Statement
from harper.operations.sql.model import InsertPlan, Plan, SelectPlan, UpdatePlan, read_columns
from harper.operations.sql.plan import plan
from harper.resources.calls import authorize
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

operations = OperationRegistry()


def _calls(planned: Plan) -> tuple[str, tuple[Any, ...]]:
    """
    The resource method a statement amounts to, and the data of each of its calls.
    """
    if isinstance(planned, SelectPlan):
        return "search", (None,)
    if isinstance(planned, InsertPlan):
        return "post", planned.records
    if isinstance(planned, UpdatePlan):
        return "patch", (planned.changes,)
    return "delete", (None,)


def statement(scope: OperationScope, text: str, user: Any) -> Statement:
    """
    The statement of SQL C{text} bound to the scope's tables, after checking that C{user}
    may do what it does to each of them.

    :raises QuerySyntaxError: for text that does not parse.
    :raises InvalidInput: for unsupported SQL, naming what is unsupported.
    :raises NotFound: for a table that does not exist.
    :raises Forbidden: when C{user}'s role does not allow the statement.
    """

    def catalog(database: str, table: str) -> Collection[str]:
        definition = scope.table(database, table).definition
        return {attribute.name for attribute in definition.attributes}

    planned = plan(text, catalog)
    sources = planned.sources if isinstance(planned, SelectPlan) else (planned.source,)
    resources = {source.alias: scope.table(source.database, source.table) for source in sources}
    method, written = _calls(planned)
    context = RequestContext(user=user, check_permission=True)
    for resource in resources.values():
        for data in written:
            authorize(method, resource, RequestTarget.collection(), context, data)
    for column in read_columns(planned):
        table = resources[column.source].table
        check_attribute_read(user, table.database, table.name, column.name, table.primary_key)
    return Statement(planned, resources)


@operations.register("sql")
def sql(call: OperationCall) -> Deferred[Any]:
    """
    Run one SELECT, INSERT, UPDATE or DELETE statement: rows for a SELECT, a summary of the
    records written for the others.
    """
    bound = statement(call.scope, call.fields.text("sql"), call.user)
    context = RequestContext(user=call.user, check_permission=True)
    return call.scope.caller.call("run", bound, RequestTarget(), context)
