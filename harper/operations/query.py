# -*- test-case-name: tests.operations.test_query -*-
"""
The operations API's search fields turned into the shared query model
(L{harper.database.conditions}): record keys, C{conditions} (nested, with C{operator}),
C{sort} (with C{next}), C{get_attributes}, and C{search_by_value}'s C{*} wildcards.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from harper.database.conditions import (
    COMPARATORS,
    Condition,
    Group,
    Node,
    Select,
    SelectField,
    SortKey,
)
from harper.errors import InvalidInput
from harper.operations.fields import MISSING, Fields, expect, field_value
from harper.resources.table import TableResource
from harper.schema.validate import coerce_key


def key_of(resource: TableResource, value: Any, where: str) -> Any:
    """
    C{value} converted to the table's primary key type; the error names C{where}.
    """
    try:
        return coerce_key(value, resource.definition)
    except InvalidInput as error:
        raise InvalidInput(f"{where}: {error.message}") from None


def requested_keys(fields: Fields, resource: TableResource) -> list[Any]:
    """
    The request's C{ids}, converted to the table's primary key type.
    """
    values = fields.list("ids")
    return [key_of(resource, value, f"ids[{index}]") for index, value in enumerate(values)]


def selection(names: list[str]) -> Optional[Select]:
    """
    The selection of C{get_attributes}: C{None} (whole records) for C{["*"]}.
    """
    if "*" in names:
        return None
    return Select(tuple(SelectField(name) for name in names))


def attribute_path(value: Any, where: str) -> Union[str, tuple[str, ...]]:
    """
    An attribute name, or a list of names reaching through relationships, checked.
    """
    if isinstance(value, list) and value and all(isinstance(part, str) and part for part in value):
        return tuple(value)
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{where}: expected an attribute name (or a list of names for a related attribute)"
        )
    return value


def operator_name(value: Any, where: str) -> str:
    """
    C{value} if it is a condition operator (C{and} or C{or}).
    """
    if value not in ("and", "or"):
        raise InvalidInput(f"{where}: expected 'and' or 'or', got {value!r}")
    return value


def _required(entry: Mapping[str, Any], name: str, where: str) -> Any:
    value = field_value(entry, name)
    if value is MISSING:
        raise InvalidInput(f"{where}.{name}: required")
    return value


def _condition(entry: Any, where: str) -> Node:
    expect(entry, dict, where)
    if "conditions" in entry:
        operator = operator_name(entry.get("operator", "and"), f"{where}.operator")
        return condition_tree(entry["conditions"], operator, f"{where}.conditions")
    attribute = attribute_path(_required(entry, "attribute", where), f"{where}.attribute")
    comparator = _required(entry, "comparator", where)
    if comparator not in COMPARATORS:
        known = ", ".join(sorted(COMPARATORS))
        raise InvalidInput(f"{where}.comparator: {comparator!r} is not one of {known}")
    value = _required(entry, "value", where)
    if comparator == "between" and not (isinstance(value, list) and len(value) == 2):
        raise InvalidInput(f"{where}.value: between needs a list of two values")
    if comparator == "in" and not isinstance(value, list):
        raise InvalidInput(f"{where}.value: in needs a list of values")
    if isinstance(value, list) and comparator in ("between", "in"):
        value = tuple(value)
    return Condition(attribute, comparator, value)


def condition_tree(entries: Any, operator: str, where: str = "conditions") -> Node:
    """
    The condition tree of a C{conditions} list joined by C{operator}; entries are
    C{{attribute, comparator, value}} or nested C{{operator, conditions}}.

    :raises InvalidInput: naming the first bad entry by its path (C{conditions[1].value}).
    """
    expect(entries, list, where)
    if not entries:
        raise InvalidInput(f"{where}: must hold at least one condition")
    nodes = [_condition(entry, f"{where}[{index}]") for index, entry in enumerate(entries)]
    return nodes[0] if len(nodes) == 1 else Group(operator, tuple(nodes))


def sort_keys(entry: Any, where: str = "sort") -> tuple[SortKey, ...]:
    """
    The sort keys of C{{attribute, descending, next}} (C{next} breaks ties, recursively).
    """
    keys = []
    while entry is not None:
        expect(entry, dict, where)
        attribute = attribute_path(_required(entry, "attribute", where), f"{where}.attribute")
        descending = entry.get("descending", False)
        expect(descending, bool, f"{where}.descending")
        keys.append(SortKey(attribute, descending))
        entry, where = entry.get("next"), f"{where}.next"
    return tuple(keys)


def wildcard_condition(attribute: Union[str, tuple[str, ...]], value: Any) -> Optional[Node]:
    """
    The condition of C{search_by_value}: C{*} alone matches every record (C{None}), a
    leading or trailing C{*} matches the rest of the text as a prefix, suffix or part.

    :raises InvalidInput: for a C{*} inside the text.
    """
    if not isinstance(value, str) or "*" not in value:
        return Condition(attribute, "equals", value)
    core = value.strip("*")
    if not core:
        return None
    if "*" in core:
        raise InvalidInput("value: a * wildcard may only start or end the value")
    leading, trailing = value.startswith("*"), value.endswith("*")
    comparator = "contains" if leading and trailing else "ends_with" if leading else "starts_with"
    return Condition(attribute, comparator, core)
