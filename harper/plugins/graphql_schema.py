# -*- test-case-name: tests.plugins.test_graphql -*-
"""
The GraphQL schema of an application's exported tables: an object type per table (its
attributes, and its C{@relationship} attributes as fields of the related table's type) and a
query field per exported table, whose arguments are turned into the query model
(L{harper.database.conditions}) by L{query_for}.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Callable, Iterable, Mapping, Optional

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)
from graphql.utilities import value_from_ast_untyped

from harper.database.conditions import COMPARATORS, Condition, Group, Query, SortKey
from harper.database.table import Table
from harper.errors import InvalidInput
from harper.schema.model import AttributeDefinition, TableDefinition

#: Query field arguments that are not attribute filters.
PAGING = ("conditions", "operator", "sort", "limit", "offset")
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


def _date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else value


def _scalar(
    name: str, description: str, serialize: Callable[[Any], Any] = lambda value: value
) -> GraphQLScalarType:
    return GraphQLScalarType(
        name,
        description=description,
        serialize=serialize,
        parse_value=lambda value: value,
        parse_literal=lambda node, variables=None: value_from_ast_untyped(node, variables),
    )


ANY = _scalar("Any", "Any JSON value.")
LONG = _scalar("Long", "An integer of any size.", int)
DATE = _scalar("Date", "A date and time, as ISO 8601 text.", _date)
SCALARS = {
    "ID": GraphQLID, "String": GraphQLString, "Int": GraphQLInt, "Float": GraphQLFloat,
    "Boolean": GraphQLBoolean, "Long": LONG, "BigInt": LONG, "Date": DATE,
}

CONDITION = GraphQLInputObjectType(
    "Condition",
    {
        "attribute": GraphQLInputField(
            GraphQLNonNull(GraphQLString), description="A dotted path through relationships."
        ),
        "comparator": GraphQLInputField(
            GraphQLString, default_value="equals", description=", ".join(sorted(COMPARATORS))
        ),
        "value": GraphQLInputField(ANY),
    },
    description="One test on one attribute, as in REST queries.",
)


def _is_filter(attribute: AttributeDefinition) -> bool:
    return (
        attribute.relationship is None
        and not attribute.type.is_list
        and attribute.type.base_name in SCALARS
        and attribute.name not in PAGING
    )


class SchemaBuilder:
    """
    Builds the GraphQL schema over table resources, one object type per table type.

    :param related: finds a table by type name (the resources' relationship lookup).
    """

    def __init__(self, related: Callable[[str], Table]) -> None:
        self._related = related
        self._types: dict[str, GraphQLObjectType] = {}

    def schema(self, resources: Iterable[Any], resolve: Callable[..., Any]) -> GraphQLSchema:
        """
        The schema with a query field per exported table of C{resources}, each resolved by
        C{resolve(resource, root, info, **arguments)}.
        """
        fields = {
            resource.export_name: self._table_field(resource, resolve)
            for resource in resources
            if _NAME.match(resource.export_name or "")
        }
        if not fields:
            fields = {"_empty": GraphQLField(GraphQLBoolean, description="No tables are exported.")}
        return GraphQLSchema(GraphQLObjectType("Query", fields))

    def _table_field(self, resource: Any, resolve: Callable[..., Any]) -> GraphQLField:
        definition = resource.definition

        def resolve_table(root: Any, info: Any, **arguments: Any) -> Any:
            return resolve(resource, root, info, **arguments)

        return GraphQLField(
            GraphQLList(self.object_type(resource.table)),
            args=self._arguments(definition),
            resolve=resolve_table,
            description=f"Records of {definition.database}.{definition.name}.",
        )

    def object_type(self, table: Table) -> GraphQLObjectType:
        """
        The object type of C{table}'s records (built once per type).
        """
        definition = table.definition
        if definition.type_name not in self._types:
            self._types[definition.type_name] = GraphQLObjectType(
                definition.type_name,
                lambda: {
                    attribute.name: GraphQLField(self._output(attribute))
                    for attribute in definition.attributes
                },
                description=f"A record of {definition.database}.{definition.name}.",
            )
        return self._types[definition.type_name]

    def _output(self, attribute: AttributeDefinition) -> Any:
        if attribute.relationship is not None:
            target = self.object_type(self._related(attribute.relationship.target))
            return GraphQLList(target) if attribute.type.is_list else target
        kind: Any = SCALARS.get(attribute.type.base_name, ANY)
        ref = attribute.type
        while ref.item is not None:
            kind, ref = GraphQLList(kind), ref.item
        return kind

    def _arguments(self, definition: TableDefinition) -> dict[str, GraphQLArgument]:
        arguments = {
            attribute.name: GraphQLArgument(
                SCALARS[attribute.type.base_name], description=f"{attribute.name} equals"
            )
            for attribute in definition.attributes
            if _is_filter(attribute)
        }
        arguments.update(
            conditions=GraphQLArgument(
                GraphQLList(GraphQLNonNull(CONDITION)), description="Further conditions."
            ),
            operator=GraphQLArgument(
                GraphQLString, default_value="and", description="How conditions join: and, or."
            ),
            sort=GraphQLArgument(
                GraphQLList(GraphQLNonNull(GraphQLString)), description="'-name' sorts descending."
            ),
            limit=GraphQLArgument(GraphQLInt),
            offset=GraphQLArgument(GraphQLInt, default_value=0),
        )
        return arguments


def _condition(entry: Mapping[str, Any]) -> Condition:
    comparator = entry.get("comparator") or "equals"
    if comparator not in COMPARATORS:
        known = ", ".join(sorted(COMPARATORS))
        raise InvalidInput(f"conditions: unknown comparator {comparator!r} (known: {known})")
    value = entry.get("value")
    if isinstance(value, list):
        value = tuple(value)
    return Condition(entry["attribute"], comparator, value)


def query_for(arguments: Mapping[str, Any], select: Any = None) -> Query:
    """
    The query of a table field's C{arguments}: attribute arguments are C{equals}
    conditions, C{conditions} further ones, joined by C{operator}; C{sort}, C{limit} and
    C{offset} page the result.

    :raises InvalidInput: for an unknown operator or comparator, or a negative paging value.
    """
    nodes: list[Any] = [
        Condition(name, "equals", value) for name, value in arguments.items() if name not in PAGING
    ]
    nodes.extend(_condition(entry) for entry in arguments.get("conditions") or ())
    operator = arguments.get("operator") or "and"
    if operator not in ("and", "or"):
        raise InvalidInput(f"operator: expected 'and' or 'or', got {operator!r}")
    limit, offset = arguments.get("limit"), arguments.get("offset") or 0
    if (limit is not None and limit < 0) or offset < 0:
        raise InvalidInput("limit and offset must not be negative")
    conditions: Optional[Any] = None
    if nodes:
        conditions = nodes[0] if len(nodes) == 1 else Group(operator, nodes)
    sort = tuple(
        SortKey(name.lstrip("-"), name.startswith("-")) for name in arguments.get("sort") or ()
    )
    return Query(conditions, select, sort, offset, limit)
