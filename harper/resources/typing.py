# -*- test-case-name: tests.resources.test_table_resource -*-
"""
Cast the text values of query conditions to the declared types of the attributes they test,
so C{?age=5} finds the records whose C{Int} age is 5.
"""

from __future__ import annotations

import datetime
from typing import Any, Optional

from harper.database.conditions import Condition, Group, Node, Not, Query
from harper.schema.model import TableDefinition

_NUMERIC = {"Int": int, "Long": int, "BigInt": int, "Float": float}
#: Types whose values may be the text "null"; for the others C{?attr=null} means no value.
_TEXTUAL = frozenset({"String", "ID", "Any"})


def _cast(text: str, type_name: str) -> Any:
    if text == "null" and type_name not in _TEXTUAL:
        return None
    if type_name in _NUMERIC:
        try:
            return _NUMERIC[type_name](text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    if type_name == "Boolean" and text in ("true", "false"):
        return text == "true"
    if type_name == "Date":
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            return text
        return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
    return text


def _value(value: Any, type_name: str) -> Any:
    if isinstance(value, str):
        return _cast(value, type_name)
    if isinstance(value, (list, tuple)):
        return tuple(_value(item, type_name) for item in value)
    return value


def _node(node: Node, definition: TableDefinition) -> Node:
    if isinstance(node, Group):
        return Group(node.operator, tuple(_node(child, definition) for child in node.conditions))
    if isinstance(node, Not):
        return Not(_node(node.condition, definition))
    if len(node.attribute) != 1 or node.comparator in ("starts_with", "ends_with", "contains"):
        return node
    attribute = definition.attribute(node.attribute[0]) or (
        definition.primary_key if node.attribute[0] == definition.primary_key.name else None
    )
    if attribute is None:
        return node
    return Condition(node.attribute, node.comparator, _value(node.value, attribute.type.base_name))


def typed_query(query: Query, definition: TableDefinition) -> Query:
    """
    C{query} with text operands cast to the declared types of their attributes (text that
    does not parse as the type stays text, and so matches nothing of that type).
    """
    conditions: Optional[Node] = query.conditions
    if conditions is None:
        return query
    return Query(_node(conditions, definition), query.select, query.sort, query.offset, query.limit)
