# -*- test-case-name: tests.replication.test_apply -*-
"""
The version of every replicated record, kept beside the table in the replication state: the
version of its last whole write, the versions of attributes patched since, and tombstones of
deleted records (with the log position of the delete, so they can be purged once every peer
confirmed it).

A record without a stored version was written before replication was switched on: it counts
as written by this node at its entry's version.
"""

from __future__ import annotations

import types
from typing import Any, Optional

from BTrees.OOBTree import OOBTree

from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.replication.conflict import ABSENT, RecordState
from harper.replication.entries import NEVER, Version
from harper.replication.log import ReplicationState, replication_state


def _table_versions(state: ReplicationState, table: Table, create: bool) -> Optional[OOBTree]:
    key = (table.database, table.name)
    versions = state.versions.get(key)
    if versions is None and create:
        versions = state.versions[key] = OOBTree()
    return versions


class RecordVersions:
    """
    Reads and writes record versions of the node named C{node}.
    """

    def __init__(self, node: str) -> None:
        self.node = node

    def state(self, txn: Transaction, table: Table, key: Any) -> RecordState:
        """
        The record C{key} of C{table} with its versions.
        """
        entry = table.entry(txn, key)
        value = entry.value if entry is not None else None
        stored = self._stored(txn, table, key)
        if stored is None:
            return RecordState(value, (entry.version, self.node)) if entry is not None else ABSENT
        return RecordState(value, stored[0], types.MappingProxyType(dict(stored[1] or {})))

    def after_local_patch(self, txn: Transaction, table: Table, key: Any, names: tuple[str, ...],
                          version: Version) -> RecordState:
        """
        The versions of record C{key} once this node patched C{names} at C{version} (called
        after the patch was written; a record without stored versions gets an unknown base,
        older than any whole write).
        """
        stored = self._stored(txn, table, key)
        base, stamps = (stored[0], dict(stored[1] or {})) if stored is not None else (NEVER, {})
        stamps.update((name, version) for name in names)
        return RecordState(table.get(txn, key), base, types.MappingProxyType(stamps))

    def store(
        self, txn: Transaction, table: Table, key: Any, record: RecordState, seq: int
    ) -> None:
        """
        Keep the versions of C{record} (a tombstone when it has no value, written by the log
        entry C{seq}).
        """
        state = replication_state(txn)
        storage_key = table.storage_key(key)
        versions = _table_versions(state, table, create=True)
        if record.value is None:
            versions[storage_key] = (record.base, None, seq, key)
            refs = state.tombstones.get(seq, ())
            state.tombstones[seq] = refs + ((table.database, table.name, storage_key),)
        else:
            versions[storage_key] = (record.base, dict(record.stamps) or None, None, None)

    def tombstones(self, txn: Transaction, table: Table) -> list[tuple[Any, RecordState]]:
        """
        The primary keys and states of the deleted records of C{table} still remembered.
        """
        state = replication_state(txn)
        versions = _table_versions(state, table, create=False)
        found = []
        own = (table.database, table.name)
        for seq, refs in state.tombstones.items():
            for database, name, storage_key in refs:
                stored = versions.get(storage_key) if (database, name) == own else None
                if stored is not None and stored[2] == seq:
                    found.append((stored[3], RecordState(None, stored[0])))
        return found

    def purge(self, txn: Transaction, through: int) -> int:
        """
        Forget the tombstones written by log entries up to C{through}; return how many.
        """
        state = replication_state(txn)
        purged = 0
        for seq, refs in list(state.tombstones.items(max=through)):
            for database, table, storage_key in refs:
                versions = state.versions.get((database, table))
                stored = versions.get(storage_key) if versions is not None else None
                if stored is not None and stored[2] == seq:
                    del versions[storage_key]
                    purged += 1
            del state.tombstones[seq]
        return purged

    def _stored(self, txn: Transaction, table: Table, key: Any) -> Optional[tuple]:
        versions = _table_versions(replication_state(txn), table, create=False)
        return versions.get(table.storage_key(key)) if versions is not None else None
