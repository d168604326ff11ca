# -*- test-case-name: tests.database.test_query -*-
"""
The query model: condition trees, selection, sort and paging.

Every front end builds these values (the REST query string parser, the operations API, MQTT
topics, code) and one executor, L{harper.database.query}, runs them against tables and
indexes.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import attr

#: Comparators a L{Condition} may use.
COMPARATORS = frozenset(
    {
        "equals",
        "not_equal",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "between",
        "starts_with",
        "ends_with",
        "contains",
        "in",
    }
)


def _as_path(value: Union[str, tuple[str, ...], list[str]]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split("."))
    return tuple(value)


@attr.frozen
class Condition:
    """
    One test on one attribute.

    :ivar attribute: attribute path; more than one element goes through relationships
        (C{("brand", "name")}).
    :ivar comparator: one of L{COMPARATORS}.
    :ivar value: the operand; a two-element tuple for C{between}, a tuple for C{in}.
    """

    attribute: tuple[str, ...] = attr.field(converter=_as_path)
    comparator: str = attr.field(default="equals")
    value: Any = None

    @comparator.validator
    def _check_comparator(self, _attribute: Any, value: str) -> None:
        if value not in COMPARATORS:
            raise ValueError(f"unknown comparator {value!r}")


@attr.frozen
class Group:
    """
    Conditions joined by C{and} or C{or}.
    """

    operator: str = attr.field()
    conditions: tuple["Node", ...] = attr.field(converter=tuple)

    @operator.validator
    def _check_operator(self, _attribute: Any, value: str) -> None:
        if value not in ("and", "or"):
            raise ValueError(f"unknown operator {value!r}")


@attr.frozen
class Not:
    """
    The negation of a condition tree.
    """

    condition: "Node"


Node = Union[Condition, Group, Not]


@attr.frozen
class SelectField:
    """
    One selected attribute, optionally with a nested selection of a related record.

    :ivar name: attribute name (C{"$id"} means the primary key).
    :ivar select: nested selection for relationship or object attributes.
    """

    name: str
    select: Optional["Select"] = None


@attr.frozen
class Select:
    """
    Which attributes a query returns and in what shape.

    :ivar fields: the selected attributes.
    :ivar shape: C{"object"} (records as mappings), C{"array"} (records as lists of values in
        field order) or C{"value"} (each record as the single selected value).
    """

    fields: tuple[SelectField, ...]
    shape: str = "object"


@attr.frozen
class SortKey:
    """
    One sort criterion.
    """

    attribute: tuple[str, ...] = attr.field(converter=_as_path)
    descending: bool = False


@attr.frozen
class Query:
    """
    A complete query against one table.

    :ivar conditions: the condition tree, C{None} for every record.
    :ivar select: the selection, C{None} for whole records.
    :ivar sort: sort criteria in priority order.
    :ivar offset: records to skip.
    :ivar limit: maximum records to return, C{None} for all.
    """

    conditions: Optional[Node] = None
    select: Optional[Select] = None
    sort: tuple[SortKey, ...] = ()
    offset: int = 0
    limit: Optional[int] = None
