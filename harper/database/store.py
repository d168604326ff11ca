# -*- test-case-name: tests.database.test_table -*-
"""
The persistent objects a table is made of.

A table is a L{TableStore}: a BTree of primary key to L{Entry} (one small persistent object per
record, so a write touches O(1) persistent objects, stored packed: see
L{harper.database.packed}) and one BTree per secondary index mapping an attribute value's
L{harper.database.keys.sort_key} to the set of primary keys holding it.
"""

from __future__ import annotations

from typing import Any, Optional

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent

from harper.database.packed import PackedState


class Entry(PackedState):
    """
    One stored record.

    :ivar value: the record (a dict, replaced as a whole on every write, never mutated).
    :ivar version: timestamp (epoch ms) of the transaction that wrote it; the ETag.
    :ivar expires_at: epoch ms after which the record is stale, or C{None}.
    """

    def __init__(self, value: dict, version: float, expires_at: Optional[float] = None) -> None:
        self.value = value
        self.version = version
        self.expires_at = expires_at


class TableStore(Persistent):
    """
    The persistent state of one table.

    :ivar records: primary key to L{Entry}.
    :ivar indexes: attribute name to an OOBTree of value key to an C{OOTreeSet} of primary keys.
    :ivar index_versions: attribute name to the computed-function version its index was built
        with (0 for stored attributes).
    :ivar size: record count (a conflict-resolving counter).
    :ivar last_generated_key: the last generated integer key.
    """

    def __init__(self) -> None:
        self.records = OOBTree()
        self.indexes = OOBTree()
        self.index_versions = OOBTree()
        self.size = Length()
        self.last_generated_key = 0

    def add_to_index(self, attribute: str, value_key: tuple, primary_key: Any) -> None:
        """
        Record that the record C{primary_key} holds C{value_key} in C{attribute}.
        """
        index = self.indexes[attribute]
        keys = index.get(value_key)
        if keys is None:
            keys = index[value_key] = OOTreeSet()
        keys.add(primary_key)

    def remove_from_index(self, attribute: str, value_key: tuple, primary_key: Any) -> None:
        """
        Forget that the record C{primary_key} holds C{value_key} in C{attribute}.
        """
        index = self.indexes[attribute]
        keys = index.get(value_key)
        if keys is None:
            return
        if primary_key in keys:
            keys.remove(primary_key)
        if not keys:
            del index[value_key]
