# -*- test-case-name: tests.operations.test_fields -*-
"""
Reading the fields of an operation request, with Harper's aliases, so that every missing or
mistyped field is refused with a message naming it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from harper.errors import InvalidInput

#: Field names to the older names Harper also accepts for them.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "database": ("schema",),
    "primary_key": ("hash_attribute",),
    "ids": ("hash_values",),
    "attribute": ("search_attribute",),
    "value": ("search_value",),
    "comparator": ("search_type",),
}

#: What L{field_value} returns for an absent field (and the default meaning "required").
MISSING = object()

_TYPE_NAMES = {
    str: "text",
    bool: "true or false",
    int: "an integer",
    list: "a list",
    dict: "an object",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def field_value(body: Mapping[str, Any], name: str) -> Any:
    """
    The value of field C{name} (or one of its L{ALIASES}) in C{body}, L{MISSING} if absent.
    """
    for each in (name, *ALIASES.get(name, ())):
        if each in body:
            return body[each]
    return MISSING


def expect(value: Any, kind: type, where: str) -> Any:
    """
    Return C{value} if it is of C{kind} (C{bool} is not an C{int} here).

    :raises InvalidInput: C{"<where>: expected <kind>, got <what>"}.
    """
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    wanted = _TYPE_NAMES.get(kind, kind.__name__)
    raise InvalidInput(f"{where}: expected {wanted}, got {_kind(value)}")


class Fields:
    """
    The body of one operation request.

    :param body: the decoded JSON object.
    """

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body

    def has(self, name: str) -> bool:
        """
        Whether the request gives field C{name} (or an alias of it), even as C{null}.
        """
        return field_value(self.body, name) is not MISSING

    def value(self, name: str, default: Any = MISSING) -> Any:
        """
        The field's value, whatever its type; without a C{default} the field is required.
        """
        value = field_value(self.body, name)
        if value is MISSING or value is None and default is not MISSING:
            if default is MISSING:
                raise InvalidInput(f"{name}: required")
            return default
        return value

    def text(self, name: str, default: Any = MISSING) -> Any:
        """
        A text field (not empty).
        """
        value = self.value(name, default)
        if value is default and default is not MISSING:
            return value
        if not expect(value, str, name):
            raise InvalidInput(f"{name}: must not be empty")
        return value

    def boolean(self, name: str, default: Any = MISSING) -> Any:
        """
        A true-or-false field.
        """
        value = self.value(name, default)
        return value if value is default else expect(value, bool, name)

    def integer(self, name: str, default: Any = MISSING, minimum: int = 0) -> Any:
        """
        An integer field, at least C{minimum}.
        """
        value = self.value(name, default)
        if value is default and default is not MISSING:
            return value
        if expect(value, int, name) < minimum:
            raise InvalidInput(f"{name}: must be at least {minimum}, got {value}")
        return value

    def list(self, name: str, default: Any = MISSING) -> Any:
        """
        A list field.
        """
        value = self.value(name, default)
        return value if value is default else expect(value, list, name)

    def mapping(self, name: str, default: Any = MISSING) -> Any:
        """
        An object field.
        """
        value = self.value(name, default)
        return value if value is default else expect(value, dict, name)

    def names(self, name: str, default: Any = MISSING) -> Optional[list[str]]:
        """
        A list of text items (such as C{get_attributes}).
        """
        values = self.list(name, default)
        if values is default:
            return values
        for index, item in enumerate(values):
            expect(item, str, f"{name}[{index}]")
        return values
