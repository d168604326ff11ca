# -*- test-case-name: tests.operations.test_sql -*-
"""
Running SQL plans against tables, inside one transaction.

Reads go through each table's L{harper.database.query.QueryExecutor} with the conditions
that concern one table, so its indexes choose the records: the whole C{WHERE} of a one-table
query (with its C{ORDER BY}, C{LIMIT} and C{OFFSET}), the first table's part of a join's
C{WHERE}, and an equality lookup on the second table's join column for every row of the
first. Grouping, aggregates and sorting of joined or grouped rows happen here. Writes go
through the tables' Resource API (C{post}, C{patch}, C{delete}), so records are validated
exactly as over REST.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from harper.database.conditions import Condition, Group, Node, Not, Query, SortKey
from harper.database.keys import sort_key
from harper.database.matching import matches
from harper.database.query import QueryExecutor, QueryStats
from harper.errors import InvalidInput
from harper.operations.query import key_of
from harper.operations.sql.model import (
    Aggregate,
    Column,
    DeletePlan,
    InsertPlan,
    Plan,
    SelectPlan,
    UpdatePlan,
    Value,
)
from harper.resources.context import RequestContext
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget
from harper.resources.typing import typed_query

#: A row of a statement: each table's record by alias (C{None}: no match in a LEFT JOIN).
Row = Mapping[str, Optional[Mapping[str, Any]]]


def _local(node: Optional[Node]) -> Optional[Node]:
    """
    C{node} with its C{(alias, name)} paths reduced to the attribute names of one table.
    """
    if node is None or isinstance(node, Condition):
        return node if node is None else Condition(node.attribute[1:], node.comparator, node.value)
    if isinstance(node, Group):
        return Group(node.operator, tuple(_local(child) for child in node.conditions))
    return Not(_local(node.condition))


def _sources(node: Node) -> set[str]:
    if isinstance(node, Condition):
        return {node.attribute[0]}
    if isinstance(node, Group):
        return set().union(*(_sources(child) for child in node.conditions))
    return _sources(node.condition)


def _conjuncts(node: Optional[Node]) -> list[Node]:
    if node is None:
        return []
    if isinstance(node, Group) and node.operator == "and":
        return list(node.conditions)
    return [node]


def _joined(nodes: list[Node]) -> Optional[Node]:
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else Group("and", tuple(nodes))


def _row_value(row: Row, path: tuple[str, ...]) -> Any:
    record = row.get(path[0])
    return None if record is None else record.get(path[1])


def _aggregate(aggregate: Aggregate, rows: list[Row]) -> Any:
    if aggregate.column is None:
        return len(rows)
    path = (aggregate.column.source, aggregate.column.name)
    values = [value for value in (_row_value(row, path) for row in rows) if value is not None]
    if aggregate.function == "count":
        return len(values)
    if not values:
        return None
    if aggregate.function in ("min", "max"):
        pick = min if aggregate.function == "min" else max
        return pick(values, key=sort_key)
    numbers = [
        value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    if len(numbers) != len(values):
        raise InvalidInput(
            f"sql: {aggregate.function.upper()}({aggregate.column.name}) needs numbers"
        )
    total = sum(numbers)
    return total if aggregate.function == "sum" else total / len(numbers)


def _evaluate(value: Value, group: list[Row]) -> Any:
    if isinstance(value, Aggregate):
        return _aggregate(value, group)
    return _row_value(group[0], (value.source, value.name)) if group else None


class Statement:
    """
    A plan bound to its tables, run through the L{harper.resources.calls.ResourceCaller} as
    a resource method (C{caller.call("run", statement, RequestTarget(), context)}).

    :param plan: the plan.
    :param resources: the resource of every table of the plan, by alias.
    :param stats: counts the records the query executors visit.
    """

    def __init__(
        self, plan: Plan, resources: Mapping[str, TableResource], stats: Optional[QueryStats] = None
    ) -> None:
        self.plan = plan
        self.resources = resources
        self.stats = stats if stats is not None else QueryStats()

    def lane(self, method: str) -> str:
        """
        Reads take the read lane and writes the group commit, as the tables' own methods do;
        a caching table makes the statement run on the worker pool.
        """
        if any(resource.cache is not None for resource in self.resources.values()):
            return "pool"
        return "read" if isinstance(self.plan, SelectPlan) else "write"

    def run(self, target: RequestTarget, context: RequestContext) -> Any:
        """
        Run the plan in C{context.transaction}: the rows of a C{SELECT}, or the summary of
        a write.
        """
        if isinstance(self.plan, SelectPlan):
            return self._select(self.plan, context)
        if isinstance(self.plan, InsertPlan):
            return self._insert(self.plan, context)
        if isinstance(self.plan, UpdatePlan):
            return self._update(self.plan, context)
        return self._delete(self.plan, context)

    # -- reads ---------------------------------------------------------------------------

    def _scan(self, alias: str, query: Query, context: RequestContext) -> Iterable[dict]:
        resource = self.resources[alias]
        executor = QueryExecutor(context.transaction, resource.table, resource.related, self.stats)
        records = executor.run(typed_query(query, resource.definition))
        return (resource.visible(record, context) for record in records)

    def _select(self, plan: SelectPlan, context: RequestContext) -> list[dict]:
        if plan.join is None and not plan.grouped:
            sort = tuple(
                SortKey((self._column(plan, order.value).name,), order.descending)
                for order in plan.order
            )
            query = Query(_local(plan.where), None, sort, plan.offset, plan.limit)
            return [
                self._project(plan, [{plan.source.alias: record}])
                for record in self._scan(plan.source.alias, query, context)
            ]
        rows = self._rows(plan, context)
        groups = self._groups(plan, rows) if plan.grouped else [[row] for row in rows]
        for order in reversed(plan.order):
            value = self._orderable(plan, order.value)
            groups.sort(
                key=lambda group: sort_key(_evaluate(value, group)), reverse=order.descending
            )
        stop = None if plan.limit is None else plan.offset + plan.limit
        return [self._project(plan, group) for group in groups[plan.offset : stop]]

    def _orderable(self, plan: SelectPlan, value: Any) -> Value:
        if not isinstance(value, str):
            return value
        output = next(output for output in plan.outputs if output.name == value)
        if output.value is None:
            raise InvalidInput(f"sql: cannot order by {value}")
        return output.value

    def _column(self, plan: SelectPlan, value: Any) -> Column:
        column = self._orderable(plan, value)
        if not isinstance(column, Column):
            raise InvalidInput(f"sql: cannot order by {value}")
        return column

    def _rows(self, plan: SelectPlan, context: RequestContext) -> list[Row]:
        first = plan.source.alias
        conjuncts = _conjuncts(plan.where)
        pushed = [node for node in conjuncts if _sources(node) == {first}]
        rest = _joined([node for node in conjuncts if _sources(node) != {first}])
        rows: list[Row] = []
        for record in self._scan(first, Query(_local(_joined(pushed))), context):
            for match in self._matches(plan, record, context):
                row = (
                    {first: record}
                    if plan.join is None
                    else {first: record, plan.join.source.alias: match}
                )
                if rest is None or matches(rest, row, _row_value):
                    rows.append(row)
        return rows

    def _matches(
        self, plan: SelectPlan, record: Mapping[str, Any], context: RequestContext
    ) -> list[Optional[dict]]:
        join = plan.join
        if join is None:
            return [None]
        value = record.get(join.left.name)
        found = (
            []
            if value is None
            else list(
                self._scan(
                    join.source.alias,
                    Query(Condition((join.right.name,), "equals", value)),
                    context,
                )
            )
        )
        return found or ([None] if join.outer else [])

    def _groups(self, plan: SelectPlan, rows: list[Row]) -> list[list[Row]]:
        if not plan.group_by:
            return [rows]
        groups: dict[tuple, list[Row]] = {}
        for row in rows:
            key = tuple(
                sort_key(_row_value(row, (column.source, column.name))) for column in plan.group_by
            )
            groups.setdefault(key, []).append(row)
        return list(groups.values())

    def _project(self, plan: SelectPlan, group: list[Row]) -> dict:
        result: dict[str, Any] = {}
        for output in plan.outputs:
            if output.value is not None:
                result[output.name] = _evaluate(output.value, group)
                continue
            for source in plan.sources:
                record = group[0].get(source.alias) if group else None
                if record is not None and output.source in (None, source.alias):
                    result.update(
                        {name: value for name, value in record.items() if name not in result}
                    )
        return result

    # -- writes --------------------------------------------------------------------------

    def _keys(self, plan: Any, context: RequestContext) -> list[Any]:
        primary_key = self.resources[plan.source.alias].table.primary_key
        return [
            record[primary_key]
            for record in self._scan(plan.source.alias, Query(_local(plan.where)), context)
        ]

    def _insert(self, plan: InsertPlan, context: RequestContext) -> dict[str, Any]:
        resource = self.resources[plan.source.alias]
        primary_key = resource.table.primary_key
        inserted, skipped = [], []
        for index, record in enumerate(plan.records):
            key = record.get(primary_key)
            if key is not None:
                key = key_of(resource, key, f"sql: row {index + 1}: {primary_key}")
                if resource.read(key, context) is not None:
                    skipped.append(key)
                    continue
                record = {**record, primary_key: key}
            stored = resource.post(RequestTarget.collection(), record, context)
            inserted.append(stored[primary_key])
        total = len(inserted) + len(skipped)
        return {
            "message": f"inserted {len(inserted)} of {total} records",
            "inserted_hashes": inserted,
            "skipped_hashes": skipped,
        }

    def _update(self, plan: UpdatePlan, context: RequestContext) -> dict[str, Any]:
        resource = self.resources[plan.source.alias]
        if resource.table.primary_key in plan.changes:
            raise InvalidInput(
                f"sql: UPDATE may not change the primary key {resource.table.primary_key}"
            )
        keys = self._keys(plan, context)
        for key in keys:
            resource.patch(RequestTarget.record(key), dict(plan.changes), context)
        return {
            "message": f"updated {len(keys)} of {len(keys)} records",
            "update_hashes": keys,
            "skipped_hashes": [],
        }

    def _delete(self, plan: DeletePlan, context: RequestContext) -> dict[str, Any]:
        resource = self.resources[plan.source.alias]
        keys = self._keys(plan, context)
        for key in keys:
            resource.delete(RequestTarget.record(key), context)
        return {
            "message": f"{len(keys)} of {len(keys)} records successfully deleted",
            "deleted_hashes": keys,
            "skipped_hashes": [],
        }
