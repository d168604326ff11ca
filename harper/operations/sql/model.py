# -*- test-case-name: tests.operations.test_sql_plan -*-
"""
The plans of SQL statements: the tables (L{Source}) and columns (L{Column}, qualified by
their table's alias) they name, and what they do (L{SelectPlan}, L{InsertPlan},
L{UpdatePlan}, L{DeletePlan}), with C{WHERE} clauses as L{harper.database.conditions} trees
over C{(alias, name)} paths.
"""

from __future__ import annotations

from typing import Iterator, Optional, Union

import attr

from harper.database.conditions import Condition, Group, Node


@attr.frozen
class Source:
    """
    A table a statement reads or writes, under its alias (the table name without one).
    """

    database: str
    table: str
    alias: str


@attr.frozen
class Column:
    """
    A column of the table with alias C{source}.
    """

    source: str
    name: str


@attr.frozen
class Aggregate:
    """
    C{COUNT}, C{SUM}, C{AVG}, C{MIN} or C{MAX} of a column (C{None}: C{COUNT(*)}).
    """

    function: str
    column: Optional[Column]


Value = Union[Column, Aggregate]


@attr.frozen
class Output:
    """
    One column of a result: C{value} named C{name}, or (C{value} C{None}) every attribute of
    the table with alias C{source} (of every table when C{source} is C{None}).
    """

    name: str
    value: Optional[Value] = None
    source: Optional[str] = None


@attr.frozen
class Join:
    """
    The second table of a C{SELECT}, matched on C{left} (first table) = C{right} (this one);
    C{outer} keeps first-table rows without a match (C{LEFT JOIN}).
    """

    source: Source
    outer: bool
    left: Column
    right: Column


@attr.frozen
class Order:
    """
    A sort criterion: a value, or the name of an output column.
    """

    value: Union[Value, str]
    descending: bool = False


@attr.frozen
class SelectPlan:
    """
    A C{SELECT} of one table or of a join of two.
    """

    source: Source
    join: Optional[Join]
    outputs: tuple[Output, ...]
    where: Optional[Node] = None
    group_by: tuple[Column, ...] = ()
    order: tuple[Order, ...] = ()
    offset: int = 0
    limit: Optional[int] = None

    @property
    def sources(self) -> tuple[Source, ...]:
        """
        The tables read, first table first.
        """
        return (self.source,) if self.join is None else (self.source, self.join.source)

    @property
    def grouped(self) -> bool:
        """
        Whether rows are folded into groups (C{GROUP BY}, or an aggregate over every row).
        """
        values = [output.value for output in self.outputs] + [order.value for order in self.order]
        return bool(self.group_by) or any(isinstance(value, Aggregate) for value in values)


@attr.frozen
class InsertPlan:
    """
    C{INSERT INTO source (columns) VALUES (...), ...} as records.
    """

    source: Source
    records: tuple[dict, ...]


@attr.frozen
class UpdatePlan:
    """
    C{UPDATE source SET name = literal, ... WHERE ...}.
    """

    source: Source
    changes: dict
    where: Optional[Node] = None


@attr.frozen
class DeletePlan:
    """
    C{DELETE FROM source WHERE ...}.
    """

    source: Source
    where: Optional[Node] = None


Plan = Union[SelectPlan, InsertPlan, UpdatePlan, DeletePlan]


def _where_columns(node: Optional[Node]) -> Iterator[Column]:
    if isinstance(node, Condition):
        yield Column(node.attribute[0], node.attribute[1])
    elif isinstance(node, Group):
        for child in node.conditions:
            yield from _where_columns(child)
    elif node is not None:
        yield from _where_columns(node.condition)


def read_columns(planned: Plan) -> Iterator[Column]:
    """
    The columns a statement reads: those a C{SELECT} answers with (alone or aggregated),
    joins on, groups and orders by, and those the C{WHERE} of any statement filters on.
    """
    if isinstance(planned, SelectPlan):
        values = [output.value for output in planned.outputs]
        values += [order.value for order in planned.order if not isinstance(order.value, str)]
        values += list(planned.group_by)
        if planned.join is not None:
            values += [planned.join.left, planned.join.right]
        for value in values:
            column = value.column if isinstance(value, Aggregate) else value
            if column is not None:
                yield column
    if not isinstance(planned, InsertPlan):
        yield from _where_columns(planned.where)
