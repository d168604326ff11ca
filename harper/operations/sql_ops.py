# -*- test-case-name: tests.operations.test_sql -*-
"""
The C{sql} operation: one SQL statement planned by L{harper.operations.sql.plan} and run
by L{harper.operations.sql.execute} in one transaction, with the same table permissions as
the other data operations (C{read} for C{SELECT}, C{insert}, C{update} or C{delete} for the
writes).
"""

from __future__ import annotations

from typing import Any, Collection

from twisted.internet.defer import Deferred

from harper.auth.permissions import check
from harper.operations.registry import OperationCall, OperationRegistry
from harper.operations.scope import OperationScope
from harper.operations.sql.execute import Statement
from harper.operations.sql.model import InsertPlan, Plan, SelectPlan, UpdatePlan
from harper.operations.sql.plan import plan
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

operations = OperationRegistry()


def _verb(planned: Plan) -> str:
    if isinstance(planned, SelectPlan):
        return "read"
    if isinstance(planned, InsertPlan):
        return "insert"
    return "update" if isinstance(planned, UpdatePlan) else "delete"


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
    verb = _verb(planned)
    for source in sources:
        check(user, verb, source.database, source.table)
    return Statement(
        planned, {source.alias: scope.table(source.database, source.table) for source in sources}
    )


@operations.register("sql")
def sql(call: OperationCall) -> Deferred[Any]:
    """
    Run one SELECT, INSERT, UPDATE or DELETE statement: rows for a SELECT, a summary of the
    records written for the others.
    """
    bound = statement(call.scope, call.fields.text("sql"), call.user)
    context = RequestContext(user=call.user)
    return call.scope.caller.call("run", bound, RequestTarget(), context)
