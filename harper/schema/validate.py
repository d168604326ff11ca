# -*- test-case-name: tests.schema.test_validate -*-
"""
Checking records against their table's declared attributes.

L{validate_record} returns a new record whose declared attributes hold values of their declared
types (ISO 8601 text becomes a UTC C{datetime}, base64 text becomes C{bytes}) or raises one
L{ValidationError} naming every problem. L{coerce_key} turns a key taken from a URL path into
the key attribute's type.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import math
import re
import uuid
from typing import Any, Callable, Mapping, Optional, Union

from harper.errors import InvalidInput, ValidationError
from harper.schema.model import (
    INTEGER_KEY_TYPES,
    AttributeDefinition,
    ObjectTypeDefinition,
    Schema,
    TableDefinition,
    TypeRef,
)
from harper.schema.sdl import type_text

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**53 - 1), 2**53 - 1)

_INTEGER_TEXT = re.compile(r"-?[0-9]{1,4000}")
_FLOAT_TEXT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")

#: Types a value of type C{Any} may be built from.
_PLAIN_SCALARS = (
    type(None), bool, int, float, str, bytes, bytearray, datetime.date, decimal.Decimal,
    uuid.UUID,
)

_Shape = Union[TableDefinition, ObjectTypeDefinition]


class _Mismatch(ValueError):
    """
    A value is not of the declared type; the argument, if any, says more.
    """


def _integer(value: Any, bounds: Optional[tuple[int, int]] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Mismatch()
    if isinstance(value, float):
        if not value.is_integer():
            raise _Mismatch()
        value = int(value)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise _Mismatch(f"out of range {bounds[0]}..{bounds[1]}")
    return int(value)


def _big_integer(value: Any) -> int:
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    return _integer(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Mismatch()
    try:
        return float(value)
    except OverflowError:
        raise _Mismatch("too large") from None


def _of_type(*types: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise _Mismatch()
        return value

    return check


def _date(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime.combine(value, datetime.time())
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise _Mismatch("not an ISO 8601 date") from None
    else:
        milliseconds = _float(value)
        try:
            return datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _Mismatch("out of range of dates") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise _Mismatch("not base64") from None
    raise _Mismatch()


def _any(value: Any) -> Any:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, Mapping):
            if not all(isinstance(key, (str, int)) for key in item):
                raise _Mismatch("object keys must be strings or integers")
            pending.extend(item.values())
        elif not isinstance(item, _PLAIN_SCALARS):
            raise _Mismatch(f"{type(item).__name__} is not plain data")
    return value


#: Scalar type name to the function checking and converting a value of it.
_SCALARS: Mapping[str, Callable[[Any], Any]] = {
    "ID": _of_type(str, int),
    "String": _of_type(str),
    "Int": lambda value: _integer(value, INT_RANGE),
    "Long": lambda value: _integer(value, LONG_RANGE),
    "BigInt": _big_integer,
    "Float": _float,
    "Boolean": _of_type(bool),
    "Date": _date,
    "Bytes": _bytes,
    "Any": _any,
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _required(attribute: AttributeDefinition) -> bool:
    managed = attribute.created_time or attribute.updated_time or attribute.expires_at
    return not (attribute.type.nullable or attribute.primary_key or managed or not attribute.stored)


class _RecordChecker:
    """
    Walks one record, collecting every problem.
    """

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self.problems: list[str] = []

    def fields(
        self,
        value: Any,
        shape: _Shape,
        path: str,
        partial: bool = False,
        key: Optional[AttributeDefinition] = None,
    ) -> dict[Any, Any]:
        type_name = shape.type_name if isinstance(shape, TableDefinition) else shape.name
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}: expected an object ({type_name}), got {_show(value)}")
            return {}
        result: dict[Any, Any] = {}
        for name, item in value.items():
            where = f"{path}.{name}"
            attribute = key if key is not None and name == key.name else shape.attribute(name)
            if attribute is None and shape.sealed:
                self.problems.append(f"{where}: not declared and {type_name} is @sealed")
            elif attribute is None:
                result[name] = item
            elif attribute.relationship is not None:
                self.problems.append(f"{where} is a relationship and cannot be written")
            elif attribute.computed is not None:
                self.problems.append(f"{where} is computed and cannot be written")
            else:
                result[name] = self.value(item, attribute.type, where)
        if not partial:
            for attribute in shape.attributes:
                if attribute.name not in value and _required(attribute):
                    self.problems.append(f"{path}.{attribute.name}: required "
                                         f"({type_text(attribute.type)})")
        return result

    def value(self, item: Any, type_ref: TypeRef, where: str) -> Any:
        if item is None:
            if not type_ref.nullable:
                self.problems.append(f"{where}: required ({type_text(type_ref)}), got null")
            return None
        if type_ref.item is not None:
            if not isinstance(item, (list, tuple)):
                self.problems.append(f"{where}: expected {type_text(type_ref)}, got {_show(item)}")
                return item
            return [self.value(element, type_ref.item, f"{where}[{index}]")
                    for index, element in enumerate(item)]
        assert type_ref.name is not None
        convert = _SCALARS.get(type_ref.name)
        if convert is None:
            return self.fields(item, self._schema.types[type_ref.name], where)
        try:
            return convert(item)
        except _Mismatch as mismatch:
            detail = f" ({mismatch})" if str(mismatch) else ""
            self.problems.append(f"{where}: expected {type_ref.name}, got {_show(item)}{detail}")
            return item


def validate_record(
    record: Mapping[str, Any],
    table: TableDefinition,
    schema: Schema,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """
    Check a record against its table and convert its values to the declared types.

    :param record: the attributes to write.
    :param table: the table the record belongs to.
    :param schema: the schema holding the table, for the shape of nested object types.
    :param partial: C{True} for a patch: only the given attributes are checked and C{None}
        means "remove" for nullable ones.
    :return: a new dict; undeclared attributes of a table that is not sealed are kept as given.
    :raises ValidationError: naming every problem, for example
        C{"Dog.age: expected Int, got 'x'"} or C{"Dog.name: required (String!)"}.
    """
    checker = _RecordChecker(schema)
    result = checker.fields(record, table, table.type_name, partial, key=table.primary_key)
    if checker.problems:
        raise ValidationError(checker.problems)
    return result


def coerce_key(value: Any, table: TableDefinition) -> Any:
    """
    Convert a primary key given as text (from a URL path) to the key attribute's type.

    C{Int}, C{Long} and C{BigInt} keys become C{int}, C{Float} keys C{float}; other key types
    keep the text. A value that is not text is checked against the key type as it is.

    :raises InvalidInput: when the value is not a valid key, for example C{"abc"} for an
        C{Int} key.
    """
    name = table.primary_key.type.base_name
    try:
        if isinstance(value, str):
            return _key_from_text(value, name)
        return _SCALARS[name](value)
    except _Mismatch:
        raise InvalidInput(
            f"{table.type_name}: {_show(value)} is not a valid {name} primary key"
        ) from None


def _key_from_text(text: str, name: str) -> Any:
    if name in INTEGER_KEY_TYPES:
        if not _INTEGER_TEXT.fullmatch(text):
            raise _Mismatch()
        return _SCALARS[name](int(text))
    if name == "Float":
        number = float(text) if _FLOAT_TEXT.fullmatch(text) else math.nan
        if not math.isfinite(number):
            raise _Mismatch()
        return number
    return text
