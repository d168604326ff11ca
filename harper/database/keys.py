# -*- test-case-name: tests.database.test_keys -*-
"""
A total order over the values records hold, so mixed types can share one BTree.

Python 3 refuses to compare C{1} with C{"a"}; index BTrees (and tables keyed by C{Any}) map each
value to a tuple whose first element ranks its type, so every pair of keys compares.
"""

from __future__ import annotations

import datetime
from typing import Any

_NULL = (0,)


def sort_key(value: Any) -> tuple:
    """
    Return the BTree key for C{value}: C{None} sorts first, then booleans, numbers, strings,
    dates, bytes and finally anything else by its canonical text.
    """
    if value is None:
        return _NULL
    kind = type(value)
    if kind is str:
        return (3, value)
    if kind is bool:
        return (1, value)
    if kind is int or kind is float:
        return (2, value)
    if kind is datetime.datetime:
        return (4, value.timestamp())
    if kind is bytes:
        return (5, value)
    return (9, repr(value))


def index_entries(value: Any) -> list[tuple]:
    """
    Return the index keys for an attribute value: one per element of a list (per Harper's
    rule that array values are indexed element by element), otherwise one.
    """
    if isinstance(value, (list, tuple)):
        if not value:
            return []
        return list({sort_key(item) for item in value})
    return [sort_key(value)]
