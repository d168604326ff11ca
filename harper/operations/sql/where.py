# -*- test-case-name: tests.operations.test_sql_plan -*-
"""
SQL expressions turned into the shared query model: C{WHERE} trees into
L{harper.database.conditions} nodes, and literals into Python values.

Columns are resolved by a callback to qualified C{(alias, name)} paths; a comparison must set
a column against a literal (C{a = 1}, C{1 < a}, C{a BETWEEN 1 AND 3}, C{a IN (1, 2)},
C{a LIKE 'x%'}, C{a IS NULL}), joined by C{AND}, C{OR} and C{NOT}.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlglot import exp

from harper.database.conditions import Condition, Group, Node, Not
from harper.errors import InvalidInput

#: Resolves a column expression to its qualified C{(alias, name)} path.
ColumnResolver = Callable[[exp.Column], tuple[str, str]]

_COMPARISONS = {
    exp.EQ: "equals",
    exp.NEQ: "not_equal",
    exp.GT: "greater_than",
    exp.GTE: "greater_than_equal",
    exp.LT: "less_than",
    exp.LTE: "less_than_equal",
}

#: The comparator that holds when the operands of a comparison are swapped.
_SWAPPED = {
    "equals": "equals",
    "not_equal": "not_equal",
    "greater_than": "less_than",
    "greater_than_equal": "less_than_equal",
    "less_than": "greater_than",
    "less_than_equal": "greater_than_equal",
}


def unsupported(what: str) -> InvalidInput:
    """
    The error refusing SQL that harper does not run, naming C{what}.
    """
    return InvalidInput(f"sql: unsupported SQL: {what}")


def literal(expression: exp.Expression) -> Any:
    """
    The Python value of a literal (number, text, C{TRUE}/C{FALSE}, C{NULL}, negated number).

    :raises InvalidInput: for anything that is not a literal.
    """
    if isinstance(expression, exp.Paren):
        return literal(expression.this)
    if isinstance(expression, exp.Null):
        return None
    if isinstance(expression, exp.Boolean):
        return bool(expression.this)
    if isinstance(expression, exp.Neg) and isinstance(expression.this, exp.Literal):
        value = literal(expression.this)
        if not isinstance(value, str):
            return -value
    if isinstance(expression, exp.Literal):
        if expression.is_string:
            return expression.this
        text = expression.this
        try:
            return int(text)
        except ValueError:
            return float(text)
    raise unsupported(f"{expression.sql()} where a literal value is expected")


def _like(path: tuple[str, str], pattern: Any, source: str) -> Condition:
    if not isinstance(pattern, str):
        raise unsupported(f"{source}: LIKE needs a text pattern")
    core = pattern.strip("%")
    if "%" in core or "_" in pattern:
        raise unsupported(f"{source}: LIKE patterns may only start or end with %")
    leading, trailing = pattern.startswith("%"), pattern.endswith("%")
    if leading and trailing:
        return Condition(path, "contains", core)
    if leading:
        return Condition(path, "ends_with", core)
    return Condition(path, "starts_with" if trailing else "equals", core)


def _comparison(node: exp.Binary, column: ColumnResolver) -> Condition:
    comparator = _COMPARISONS[type(node)]
    left, right = node.this, node.expression
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, comparator = right, left, _SWAPPED[comparator]
    if not isinstance(left, exp.Column) or isinstance(right, exp.Column):
        raise unsupported(f"{node.sql()}: compare one column with a literal value")
    return Condition(column(left), comparator, literal(right))


def _column_of(node: exp.Expression, column: ColumnResolver) -> tuple[str, str]:
    subject = node.this
    if not isinstance(subject, exp.Column):
        raise unsupported(f"{node.sql()}: the left side must be a column")
    return column(subject)


def _flattened(operator: str, nodes: list[Node]) -> Group:
    children: list[Node] = []
    for node in nodes:
        if isinstance(node, Group) and node.operator == operator:
            children.extend(node.conditions)
        else:
            children.append(node)
    return Group(operator, tuple(children))


def condition(node: exp.Expression, column: ColumnResolver) -> Node:
    """
    The condition tree of a C{WHERE} expression.

    :raises InvalidInput: naming the part of the expression harper does not run.
    """
    if isinstance(node, exp.Paren):
        return condition(node.this, column)
    if isinstance(node, (exp.And, exp.Or)):
        operator = "and" if isinstance(node, exp.And) else "or"
        return _flattened(
            operator, [condition(node.this, column), condition(node.expression, column)]
        )
    if isinstance(node, exp.Not):
        return Not(condition(node.this, column))
    if type(node) in _COMPARISONS:
        return _comparison(node, column)
    if isinstance(node, exp.Between):
        bounds = (literal(node.args["low"]), literal(node.args["high"]))
        return Condition(_column_of(node, column), "between", bounds)
    if isinstance(node, exp.In):
        if node.args.get("query") is not None or not node.expressions:
            raise unsupported(f"{node.sql()}: IN needs a list of literal values")
        values = tuple(literal(value) for value in node.expressions)
        return Condition(_column_of(node, column), "in", values)
    if isinstance(node, exp.Like):
        return _like(_column_of(node, column), literal(node.expression), node.sql())
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return Condition(_column_of(node, column), "equals", None)
    raise unsupported(f"the condition {node.sql()}")
