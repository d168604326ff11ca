# -*- test-case-name: tests.replication.test_stream -*-
"""
Reading a base copy: every record of the replicated tables with its versions, then the
tombstones, in bounded chunks, each read in its own short read transaction.

Later chunks may include writes made after the copy started; that is harmless, because the
receiver merges every record by the conflict rule and the log is streamed from where the copy
started.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.replication.entries import CopiedRecord
from harper.replication.versions import RecordVersions

_START = object()


@attr.frozen
class CopyCursor:
    """
    Where a base copy continues.

    :ivar table: index of the table being copied.
    :ivar after: the storage key of the last record copied from it, or the start.
    :ivar tombstones: whether the table's records are done and its tombstones come next.
    """

    table: int = 0
    after: Any = _START
    tombstones: bool = False


def read_chunk(
    txn: Transaction, tables: list[Table], versions: RecordVersions, cursor: CopyCursor, limit: int
) -> tuple[list[CopiedRecord], Optional[CopyCursor]]:
    """
    Up to C{limit} records from C{cursor} on (a table's tombstones come together after its
    records), and the cursor of the next chunk, or C{None} after the last one.
    """
    if cursor.table >= len(tables):
        return [], None
    table = tables[cursor.table]
    if cursor.tombstones:
        tombstones = [_copied(table, key, state) for key, state in versions.tombstones(txn, table)]
        return tombstones, CopyCursor(cursor.table + 1)
    records = table.store(txn).records
    if cursor.after is _START:
        items = records.items()
    else:
        items = records.items(cursor.after, excludemin=True)
    chunk = list(items[:limit])
    copied = []
    for _, entry in chunk:
        key = entry.value.get(table.primary_key)
        copied.append(_copied(table, key, versions.state(txn, table, key)))
    if len(chunk) == limit:
        following = CopyCursor(cursor.table, chunk[-1][0])
    else:
        following = CopyCursor(cursor.table, tombstones=True)
    return copied, following


def _copied(table: Table, key: Any, state: Any) -> CopiedRecord:
    value = dict(state.value) if state.value is not None else None
    return CopiedRecord(table.database, table.name, key, value, state.base, dict(state.stamps))
