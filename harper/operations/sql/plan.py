# -*- test-case-name: tests.operations.test_sql_plan -*-
"""
SQL text parsed with sqlglot into the plans of L{harper.operations.sql.model}, resolving
each column to the table it belongs to. SQL outside the supported forms (one statement;
C{SELECT} with C{WHERE}, C{GROUP BY}, C{ORDER BY}, C{LIMIT}/C{OFFSET},
C{COUNT}/C{SUM}/C{AVG}/C{MIN}/C{MAX} and one C{INNER} or C{LEFT JOIN} on an equality;
C{INSERT ... VALUES}; C{UPDATE ... SET column = literal}; C{DELETE}) is refused with an
error naming what is not supported.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from harper.database.conditions import Node
from harper.errors import InvalidInput, QuerySyntaxError
from harper.operations.scope import DEFAULT_DATABASE
from harper.operations.sql.model import (
    Aggregate,
    Column,
    DeletePlan,
    InsertPlan,
    Join,
    Order,
    Output,
    Plan,
    SelectPlan,
    Source,
    UpdatePlan,
    Value,
)
from harper.operations.sql.where import condition, literal, unsupported

#: The attribute names of table C{(database, table)}; raises NotFound for an unknown table.
Catalog = Callable[[str, str], Collection[str]]

_AGGREGATES = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}

#: Clauses each statement may use; any other clause present is refused.
_CLAUSES = {
    exp.Select: {"expressions", "from_", "joins", "where", "group", "order", "limit", "offset"},
    exp.Insert: {"this", "expression"},
    exp.Update: {"this", "expressions", "where"},
    exp.Delete: {"this", "where"},
}


def _parsed(text: str) -> exp.Expression:
    try:
        statements = [each for each in sqlglot.parse(text) if each is not None]
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        position = len(detail.get("start_context", ""))
        reason = detail.get("description", str(error)).split(" but got ")[0]
        raise QuerySyntaxError(f"sql: {reason} at character {position + 1}", position) from None
    except SqlglotError as error:
        raise QuerySyntaxError(f"sql: {error}", 0) from None
    if len(statements) != 1:
        raise unsupported(f"{len(statements)} statements; send exactly one")
    return statements[0]


def _check_clauses(statement: exp.Expression) -> None:
    allowed = _CLAUSES.get(type(statement))
    if isinstance(statement, exp.Condition):
        raise QuerySyntaxError("sql: expected a SELECT, INSERT, UPDATE or DELETE statement", 0)
    if allowed is None:
        raise unsupported(
            f"{statement.key.upper()} statements (harper runs SELECT, INSERT, UPDATE and DELETE)"
        )
    for name, value in statement.args.items():
        if value and name not in allowed:
            raise unsupported(f"{name.rstrip('_').upper()} in {statement.key.upper()}")


def _source(table: exp.Expression) -> Source:
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise unsupported(f"{table.sql()} as a table (name a table, such as data.Dog)")
    if table.args.get("catalog"):
        raise unsupported(f"the three-part table name {table.sql()}")
    name, database = table.name, table.db or DEFAULT_DATABASE
    return Source(database, name, table.alias or name)


class _Columns:
    """
    Resolves columns of a statement's tables to qualified L{Column}s.
    """

    def __init__(self, sources: tuple[Source, ...], catalog: Catalog) -> None:
        self._sources = sources
        self._names = [frozenset(catalog(source.database, source.table)) for source in sources]

    def column(self, node: exp.Column) -> Column:
        if isinstance(node.this, exp.Star):
            raise unsupported(f"{node.sql()} here")
        if node.args.get("db") or node.args.get("catalog"):
            raise unsupported(f"the column name {node.sql()} (use table.column)")
        name, qualifier = node.name, node.table
        if qualifier:
            return Column(self.source_of(qualifier, node.sql()), name)
        if len(self._sources) == 1:
            return Column(self._sources[0].alias, name)
        owners = [source for source, names in zip(self._sources, self._names) if name in names]
        if len(owners) != 1:
            problem = "is in both tables" if owners else "is in neither table"
            raise InvalidInput(f"sql: column {name!r} {problem}: qualify it as table.{name}")
        return Column(owners[0].alias, name)

    def source_of(self, qualifier: str, text: str) -> str:
        for source in self._sources:
            if qualifier in (source.alias, source.table):
                return source.alias
        raise InvalidInput(f"sql: {text} names no table of the statement")

    def grouping(self, node: exp.Expression) -> Column:
        if not isinstance(node, exp.Column):
            raise unsupported(f"GROUP BY {node.sql()} (group by columns)")
        return self.column(node)

    def path(self, node: exp.Column) -> tuple[str, str]:
        column = self.column(node)
        return (column.source, column.name)

    def where(self, statement: exp.Expression) -> Optional[Node]:
        clause = statement.args.get("where")
        return None if clause is None else condition(clause.this, self.path)


def _count(clause: Optional[exp.Expression], name: str) -> Optional[int]:
    if clause is None:
        return None
    value = literal(clause.expression)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"sql: {name} must be a whole number of at least 0, got {value!r}")
    return value


def _aggregate(node: exp.Expression, columns: _Columns) -> Aggregate:
    function = _AGGREGATES[type(node)]
    argument = node.this
    if function == "count" and isinstance(argument, exp.Star):
        return Aggregate(function, None)
    if not isinstance(argument, exp.Column):
        raise unsupported(f"{node.sql()} (aggregates take one column, or * for COUNT)")
    return Aggregate(function, columns.column(argument))


def _value(node: exp.Expression, columns: _Columns) -> Value:
    if isinstance(node, exp.Column):
        return columns.column(node)
    if type(node) in _AGGREGATES:
        return _aggregate(node, columns)
    raise unsupported(f"the expression {node.sql()} (select columns and aggregates)")


def _output(node: exp.Expression, columns: _Columns) -> Output:
    if isinstance(node, exp.Star):
        return Output("*")
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
        return Output(node.sql(), None, columns.source_of(node.table, node.sql()))
    if isinstance(node, exp.Alias):
        return Output(node.alias, _value(node.this, columns))
    value = _value(node, columns)
    return Output(value.name if isinstance(value, Column) else node.sql(), value)


def _join(statement: exp.Select, first: Source, catalog: Catalog) -> Optional[Join]:
    joins = statement.args.get("joins") or []
    if not joins:
        return None
    if len(joins) > 1:
        raise unsupported("joins of more than two tables")
    join = joins[0]
    side, kind = (join.side or "").upper(), (join.kind or "").upper()
    if side not in ("", "LEFT") or kind not in ("", "INNER", "OUTER"):
        raise unsupported(f"{' '.join(filter(None, (side, kind)))} JOIN (use INNER or LEFT JOIN)")
    on = join.args.get("on")
    if on is None or join.args.get("using"):
        raise unsupported("a join without ON first.column = second.column")
    second = _source(join.this)
    if not isinstance(on, exp.EQ) or not all(
        isinstance(each, exp.Column) for each in (on.this, on.expression)
    ):
        raise unsupported(f"the join condition {on.sql()} (join on one column equal to another)")
    columns = _Columns((first, second), catalog)
    left, right = columns.column(on.this), columns.column(on.expression)
    if left.source == right.source:
        raise unsupported(f"the join condition {on.sql()} (compare a column of each table)")
    if left.source != first.alias:
        left, right = right, left
    return Join(second, side == "LEFT", left, right)


def _order(node: exp.Ordered, columns: _Columns, names: set[str]) -> Order:
    value = node.this
    descending = bool(node.args.get("desc"))
    if isinstance(value, exp.Column) and not value.table and value.name in names:
        return Order(value.name, descending)
    return Order(_value(value, columns), descending)


def _check_grouping(plan: SelectPlan) -> None:
    if not plan.grouped:
        return
    for output in plan.outputs:
        if output.value is None:
            raise unsupported("* together with GROUP BY or aggregates")
        if isinstance(output.value, Column) and output.value not in plan.group_by:
            raise unsupported(f"selecting {output.name} that is neither grouped nor aggregated")


def _select(statement: exp.Select, catalog: Catalog) -> SelectPlan:
    origin = statement.args.get("from_")
    if origin is None:
        raise unsupported("SELECT without FROM")
    first = _source(origin.this)
    join = _join(statement, first, catalog)
    sources = (first,) if join is None else (first, join.source)
    columns = _Columns(sources, catalog)
    outputs = tuple(_output(node, columns) for node in statement.expressions)
    names = {output.name for output in outputs}
    group = statement.args.get("group")
    order = statement.args.get("order")
    plan = SelectPlan(
        first,
        join,
        outputs,
        columns.where(statement),
        tuple(columns.grouping(node) for node in (group.expressions if group else ())),
        tuple(_order(node, columns, names) for node in (order.expressions if order else ())),
        _count(statement.args.get("offset"), "OFFSET") or 0,
        _count(statement.args.get("limit"), "LIMIT"),
    )
    _check_grouping(plan)
    return plan


def _insert(statement: exp.Insert) -> InsertPlan:
    target, values = statement.this, statement.expression
    if not isinstance(target, exp.Schema) or not target.expressions:
        raise unsupported("INSERT without a column list (write INSERT INTO t (a, b) VALUES ...)")
    if not isinstance(values, exp.Values):
        raise unsupported("INSERT from a query (use VALUES)")
    names = [identifier.name for identifier in target.expressions]
    records = []
    for row in values.expressions:
        items = row.expressions if isinstance(row, exp.Tuple) else [row]
        if len(items) != len(names):
            raise InvalidInput(
                f"sql: VALUES {row.sql()} has {len(items)} values for {len(names)} columns"
            )
        records.append(dict(zip(names, (literal(item) for item in items))))
    return InsertPlan(_source(target.this), tuple(records))


def _assignment(node: exp.Expression, columns: _Columns) -> tuple[str, Any]:
    if not isinstance(node, exp.EQ) or not isinstance(node.this, exp.Column):
        raise unsupported(f"SET {node.sql()} (set column = literal)")
    return columns.column(node.this).name, literal(node.expression)


def _update(statement: exp.Update, catalog: Catalog) -> UpdatePlan:
    source = _source(statement.this)
    columns = _Columns((source,), catalog)
    changes = dict(_assignment(node, columns) for node in statement.expressions)
    return UpdatePlan(source, changes, columns.where(statement))


def _delete(statement: exp.Delete, catalog: Catalog) -> DeletePlan:
    source = _source(statement.this)
    return DeletePlan(source, _Columns((source,), catalog).where(statement))


def plan(text: str, catalog: Catalog) -> Plan:
    """
    The plan of one SQL statement.

    :param catalog: the attribute names of a table (resolving unqualified columns of a join).
    :raises QuerySyntaxError: for text sqlglot cannot parse.
    :raises InvalidInput: for SQL outside the supported forms, naming what is unsupported.
    """
    statement = _parsed(text)
    _check_clauses(statement)
    if isinstance(statement, exp.Select):
        return _select(statement, catalog)
    if isinstance(statement, exp.Insert):
        return _insert(statement)
    if isinstance(statement, exp.Update):
        return _update(statement, catalog)
    return _delete(statement, catalog)
