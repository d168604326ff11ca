# -*- test-case-name: tests.schema.test_sdl -*-
"""
The schema directives harper knows and how their arguments are read.

Harper reads directive arguments as raw text and converts them, so each argument accepts a
GraphQL literal of its kind as well as a string that converts (C{expiration: "60"}). Directives
not listed here are ignored; a listed directive in the wrong position (C{@primaryKey} on a type)
is ignored with a warning; an unknown argument or a value that does not convert is a problem.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional, Sequence

from graphql.language import (
    BooleanValueNode,
    DirectiveNode,
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    Node,
    StringValueNode,
    ValueNode,
    print_ast,
)
from graphql.utilities import value_from_ast_untyped

from harper.schema.model import AttributeDefinition, Computed, Relationship, TypeRef

#: Called with the node at fault and a sentence saying what is wrong.
Report = Callable[[Node, str], None]

_Converter = Callable[[ValueNode], Any]


def _text(node: ValueNode) -> Optional[str]:
    """
    The raw text of a scalar literal, as Harper would read it, or C{None} for lists/objects.
    """
    if isinstance(node, (StringValueNode, EnumValueNode, IntValueNode, FloatValueNode)):
        return node.value
    if isinstance(node, BooleanValueNode):
        return "true" if node.value else "false"
    return None


def read_string(node: ValueNode) -> str:
    """
    A string argument: a string literal or a bare name.

    :raises ValueError: for any other literal.
    """
    if isinstance(node, (StringValueNode, EnumValueNode)):
        return node.value
    raise ValueError("expected a string")


def read_boolean(node: ValueNode) -> bool:
    """
    A boolean argument: C{true}/C{false} or the same as a string.

    :raises ValueError: for anything else.
    """
    text = _text(node)
    if text in ("true", "false"):
        return text == "true"
    raise ValueError("expected true or false")


def read_duration(node: ValueNode) -> float | int:
    """
    A non-negative number of seconds, given as a number or a string holding one.

    :raises ValueError: when the value is not a finite number of zero or more.
    """
    text = _text(node)
    if text is None or isinstance(node, BooleanValueNode):
        raise ValueError("expected a number of seconds")
    try:
        number: float | int = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError("expected a number of seconds of zero or more")
    return number


def read_count(node: ValueNode) -> int:
    """
    A non-negative integer, given as an integer or a string holding one.

    :raises ValueError: for anything else.
    """
    text = _text(node)
    if text is not None and not isinstance(node, BooleanValueNode):
        try:
            number = int(text)
        except ValueError:
            pass
        else:
            if number >= 0:
                return number
    raise ValueError("expected an integer of zero or more")


def read_roles(node: ValueNode) -> tuple[str, ...]:
    """
    One role name or a list of role names.

    :raises ValueError: when a role is not a non-empty string.
    """
    items = (node.values or ()) if isinstance(node, ListValueNode) else (node,)
    roles = tuple(read_string(item) for item in items)
    if not roles or not all(roles):
        raise ValueError("expected a role name or a list of role names")
    return roles


def read_any(node: ValueNode) -> Any:
    """
    Any literal, as the matching Python value (kept for custom index types).
    """
    return value_from_ast_untyped(node)


#: Directives allowed on types, with their arguments.
TYPE_DIRECTIVES: Mapping[str, Mapping[str, _Converter]] = {
    "table": {
        "table": read_string,
        "database": read_string,
        "schema": read_string,
        "expiration": read_duration,
        "eviction": read_duration,
        "scanInterval": read_duration,
        "audit": read_boolean,
        "replicate": read_boolean,
    },
    "export": {"name": read_string},
    "sealed": {},
    "allow": {"role": read_roles},
}

#: Directives allowed on fields, with their arguments (C{None}: any argument is kept).
FIELD_DIRECTIVES: Mapping[str, Optional[Mapping[str, _Converter]]] = {
    "primaryKey": {},
    "indexed": None,
    "createdTime": {},
    "updatedTime": {},
    "expiresAt": {},
    "relationship": {"from": read_string, "to": read_string},
    "computed": {"from": read_string, "version": read_count},
    "allow": {"role": read_roles},
    "enumerable": {},
}

#: Arguments a directive cannot go without.
REQUIRED_ARGUMENTS: Mapping[str, str] = {"allow": "role"}


def read_directives(
    nodes: Sequence[DirectiveNode],
    known: Mapping[str, Optional[Mapping[str, _Converter]]],
    misplaced: Mapping[str, Any],
    subject: str,
    report: Report,
    warn: Report,
) -> dict[str, dict[str, Any]]:
    """
    Read the known directives on one type or field.

    :param nodes: the directives as parsed.
    :param known: the directives allowed here, with their argument converters.
    :param misplaced: directives known elsewhere; found here, they are warned about and skipped.
    :param subject: C{Type} or C{Type.field}, to start each message with.
    :param report: called for each problem.
    :param warn: called for each directive that is skipped with a warning.
    :return: directive name to converted arguments; an argument that fails to convert is
        reported and left out.
    """
    found: dict[str, dict[str, Any]] = {}
    for node in nodes:
        name = node.name.value
        if name not in known:
            if name in misplaced:
                warn(node, f"{subject}: @{name} is not allowed here and is ignored")
            continue
        if name in found:
            report(node, f"{subject}: @{name} is given twice")
            continue
        found[name] = _read_arguments(node, known[name], f"{subject}: @{name}", report)
        required = REQUIRED_ARGUMENTS.get(name)
        given = {argument.name.value for argument in node.arguments or ()}
        if required is not None and required not in given:
            report(node, f"{subject}: @{name} needs a {required} argument")
    return found


def _read_arguments(
    node: DirectiveNode,
    converters: Optional[Mapping[str, _Converter]],
    subject: str,
    report: Report,
) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    seen: set[str] = set()
    for argument in node.arguments or ():
        name = argument.name.value
        convert = read_any if converters is None else converters.get(name)
        if convert is None:
            allowed = ", ".join(converters or ()) or "no arguments"
            report(argument, f"{subject} has no argument {name!r} (allowed: {allowed})")
        elif name in seen:
            report(argument, f"{subject}: argument {name!r} is given twice")
        else:
            seen.add(name)
            try:
                arguments[name] = convert(argument.value)
            except ValueError as error:
                value = print_ast(argument.value)
                report(argument, f"{subject}({name}: {value}): {error}")
    return arguments


def attribute_from_directives(
    name: str, type_ref: TypeRef, directives: dict[str, dict[str, Any]]
) -> AttributeDefinition:
    """
    The attribute a field declares, from its name, type and directives as read by
    L{read_directives}.
    """
    relationship = directives.get("relationship")
    computed = directives.get("computed")
    return AttributeDefinition(
        name=name,
        type=type_ref,
        primary_key="primaryKey" in directives,
        indexed="indexed" in directives,
        index_options=directives.get("indexed", {}),
        created_time="createdTime" in directives,
        updated_time="updatedTime" in directives,
        expires_at="expiresAt" in directives,
        relationship=None if relationship is None else Relationship(
            target=type_ref.base_name,
            from_attribute=relationship.get("from"),
            to_attribute=relationship.get("to"),
        ),
        computed=None if computed is None else Computed(
            expression=computed.get("from"), version=computed.get("version", 0)
        ),
        allow_roles=directives.get("allow", {}).get("role", ()),
        enumerable="enumerable" in directives,
    )
