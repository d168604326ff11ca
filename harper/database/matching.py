# -*- test-case-name: tests.database.test_query -*-
"""
Evaluate one condition tree against one record, with the same type-ranked ordering the indexes
use, so a filtered scan and an index lookup always agree.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from harper.database.conditions import Condition, Group, Node, Not
from harper.database.keys import sort_key

ValueGetter = Callable[[Mapping[str, Any], tuple[str, ...]], Any]


class KeySet(frozenset):
    """
    The operand of an C{in} condition turned into sort keys once, for fast membership tests.
    """

    @classmethod
    def of(cls, values: Any) -> "KeySet":
        """
        The key set for an iterable of values (returned unchanged if already one).
        """
        if isinstance(values, KeySet):
            return values
        return cls(sort_key(value) for value in values)


def _same_rank(a: tuple, b: tuple) -> bool:
    return a[0] == b[0]


def _compare_scalar(comparator: str, value: Any, operand: Any) -> bool:
    if comparator == "equals":
        return sort_key(value) == sort_key(operand)
    if comparator == "in":
        return sort_key(value) in KeySet.of(operand)
    if comparator in ("starts_with", "ends_with", "contains"):
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        if comparator == "starts_with":
            return value.startswith(operand)
        if comparator == "ends_with":
            return value.endswith(operand)
        return operand in value
    key = sort_key(value)
    if comparator == "between":
        low, high = (sort_key(o) for o in operand)
        return _same_rank(key, low) and low <= key <= high
    bound = sort_key(operand)
    if not _same_rank(key, bound):
        return False
    if comparator == "greater_than":
        return key > bound
    if comparator == "greater_than_equal":
        return key >= bound
    if comparator == "less_than":
        return key < bound
    if comparator == "less_than_equal":
        return key <= bound
    raise ValueError(f"unknown comparator {comparator!r}")


def condition_holds(condition: Condition, value: Any) -> bool:
    """
    Whether an attribute holding C{value} satisfies C{condition}. A list value satisfies a
    positive comparison when any element does (arrays are indexed per element); C{contains}
    on a list tests membership.
    """
    comparator = condition.comparator
    if comparator == "not_equal":
        return not condition_holds(Condition(condition.attribute, "equals", condition.value), value)
    if isinstance(value, (list, tuple)):
        if comparator == "contains":
            return any(sort_key(item) == sort_key(condition.value) for item in value)
        if comparator == "equals" and isinstance(condition.value, (list, tuple)):
            return list(value) == list(condition.value)
        return any(_compare_scalar(comparator, item, condition.value) for item in value)
    return _compare_scalar(comparator, value, condition.value)


def matches(node: Node, record: Mapping[str, Any], value_of: ValueGetter) -> bool:
    """
    Whether C{record} satisfies the condition tree C{node}; C{value_of(record, path)} reads an
    attribute path.
    """
    if isinstance(node, Condition):
        return condition_holds(node, value_of(record, node.attribute))
    if isinstance(node, Group):
        if node.operator == "and":
            return all(matches(child, record, value_of) for child in node.conditions)
        return any(matches(child, record, value_of) for child in node.conditions)
    if isinstance(node, Not):
        return not matches(node.condition, record, value_of)
    raise TypeError(f"not a condition: {node!r}")
