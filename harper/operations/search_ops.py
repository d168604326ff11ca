# -*- test-case-name: tests.operations.test_search_ops -*-
"""
Reading records: C{search_by_id}, C{search_by_value}, C{search_by_conditions}.

Each builds a L{harper.database.conditions.Query} and calls the table resource's C{search},
exactly as a REST query does, so indexes, type casting and selection behave the same.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred

from harper.database.conditions import Condition, Node, Query
from harper.operations.query import (
    attribute_path,
    condition_tree,
    requested_keys,
    operator_name,
    selection,
    sort_keys,
    wildcard_condition,
)
from harper.operations.registry import OperationCall, OperationRegistry
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

operations = OperationRegistry()


def _search(call: OperationCall, conditions: Optional[Node], **paging: Any) -> Deferred[list]:
    """
    The records of the requested table matching C{conditions}, shaped by C{get_attributes}.
    """
    resource = call.scope.requested_table(call.fields)
    query = Query(conditions, selection(call.fields.names("get_attributes", ["*"])), **paging)
    context = RequestContext(user=call.user, check_permission=True)
    return call.scope.caller.call("search", resource, RequestTarget.collection(query), context)


def _paging(call: OperationCall) -> dict[str, Any]:
    fields = call.fields
    return {
        "offset": fields.integer("offset", 0),
        "limit": fields.integer("limit", None),
        "sort": sort_keys(fields.mapping("sort", None)),
    }


@operations.register("search_by_id", "search_by_hash")
def search_by_id(call: OperationCall) -> Deferred[list]:
    """
    The records with the given C{ids} (ids without a record are left out).
    """
    resource = call.scope.requested_table(call.fields)
    keys = tuple(requested_keys(call.fields, resource))
    return _search(call, Condition((resource.table.primary_key,), "in", keys))


@operations.register("search_by_value")
def search_by_value(call: OperationCall) -> Deferred[list]:
    """
    The records whose C{attribute} equals C{value}, which may start or end with C{*}.
    """
    fields = call.fields
    attribute = attribute_path(fields.value("attribute"), "attribute")
    return _search(call, wildcard_condition(attribute, fields.value("value")), **_paging(call))


@operations.register("search_by_conditions")
def search_by_conditions(call: OperationCall) -> Deferred[list]:
    """
    The records matching C{conditions} joined by C{operator}, sorted and paged.
    """
    fields = call.fields
    operator = operator_name(fields.value("operator", "and"), "operator")
    return _search(call, condition_tree(fields.value("conditions"), operator), **_paging(call))
