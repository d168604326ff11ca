# -*- test-case-name: tests.operations.test_analytics_ops -*-
"""
C{get_analytics} and C{list_metrics}: the request metrics L{harper.analytics.recorder}
aggregates into C{system.hdb_analytics} (super users only).
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred

from harper.analytics.recorder import BUILTIN_METRICS
from harper.auth.permissions import require_super_user
from harper.database.conditions import Condition, Group, Node, Query, SortKey
from harper.errors import InvalidInput
from harper.operations.fields import Fields
from harper.operations.query import condition_tree, operator_name, selection
from harper.operations.registry import OperationCall, OperationRegistry
from harper.resources.context import RequestContext
from harper.resources.target import RequestTarget

operations = OperationRegistry()

#: The kinds of metric C{list_metrics} knows.
METRIC_TYPES = ("builtin", "custom")


def _millis(fields: Fields, name: str) -> Optional[float]:
    value = fields.value(name, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name}: expected epoch milliseconds, got {value!r}")
    return float(value)


def analytics_conditions(fields: Fields) -> Node:
    """
    The condition tree of a C{get_analytics} request: its C{metric}, the period records
    between C{start_time} and C{end_time}, and its C{conditions} (as C{search_by_conditions}
    takes them).
    """
    nodes: list[Node] = [Condition("metric", "equals", fields.text("metric"))]
    start, end = _millis(fields, "start_time"), _millis(fields, "end_time")
    if start is not None and end is not None and start > end:
        raise InvalidInput("start_time: must not be after end_time")
    if start is not None:
        nodes.append(Condition("time", "greater_than_equal", start))
    if end is not None:
        nodes.append(Condition("time", "less_than_equal", end))
    if fields.has("conditions"):
        operator = operator_name(fields.value("operator", "and"), "operator")
        nodes.append(condition_tree(fields.value("conditions"), operator))
    return Group("and", tuple(nodes))


@operations.register("get_analytics")
def get_analytics(call: OperationCall) -> Deferred[list[dict[str, Any]]]:
    """
    The aggregated records of one C{metric}, oldest first, optionally limited in time, by
    C{conditions} and to C{get_attributes}.
    """
    require_super_user(call.user, "read analytics")
    fields = call.fields
    query = Query(
        analytics_conditions(fields),
        selection(fields.names("get_attributes", ["*"])),
        sort=(SortKey("time"),),
    )
    resource = call.scope.analytics.resource
    context = RequestContext(user=call.user)
    return call.scope.caller.call("search", resource, RequestTarget.collection(query), context)


@operations.register("list_metrics")
def list_metrics(call: OperationCall) -> list[str]:
    """
    The names of the metrics of the C{metric_types} asked for (default builtin): harper
    records only builtin ones.
    """
    require_super_user(call.user, "read analytics")
    types = call.fields.names("metric_types", ["builtin"])
    for index, name in enumerate(types):
        if name not in METRIC_TYPES:
            known = ", ".join(METRIC_TYPES)
            raise InvalidInput(f"metric_types[{index}]: {name!r} is not one of {known}")
    return list(BUILTIN_METRICS) if "builtin" in types else []
