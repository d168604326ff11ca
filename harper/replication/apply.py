# -*- test-case-name: tests.replication.test_apply -*-
"""
Applying what a peer sends, inside one transaction of this node: log entries (each applied
whole, exactly once per origin, and logged here to be forwarded) and base-copy records.

Writes go through the tables' own write path, so indexes are kept and subscribers on this
node receive the change events; the conflict rule of L{harper.replication.conflict} decides
what each write becomes. A write the rule turns down changes nothing and emits nothing.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from harper.database.events import MESSAGE, PATCH, PUT, ChangeEvent
from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.replication.conflict import RecordState, merge, resolve
from harper.replication.entries import Change, CopiedRecord, LogEntry, Version
from harper.replication.log import ChangeLog
from harper.replication.recorder import ChangeRecorder, TableLookup
from harper.replication.versions import RecordVersions


class EntryApplier:
    """
    Applies entries and base-copy records received from peers.

    :param log: this node's change log.
    :param versions: this node's record versions.
    :param recorder: the commit step logging local transactions (kept away from these).
    :param tables: finds the replicated tables.
    """

    def __init__(
        self,
        log: ChangeLog,
        versions: RecordVersions,
        recorder: ChangeRecorder,
        tables: TableLookup,
    ) -> None:
        self.log = log
        self.versions = versions
        self.recorder = recorder
        self.tables = tables

    def apply_entries(
        self, txn: Transaction, peer: str, entries: Iterable[LogEntry], through: int
    ) -> int:
        """
        Apply the C{entries} of C{peer}'s log not applied yet, and record that its log was
        applied through C{through}; return how many entries were new.
        """
        self.recorder.exclude(txn)
        own_timestamp = txn.timestamp
        applied = 0
        for entry in entries:
            if self.log.is_applied(txn, entry.origin, entry.origin_seq):
                continue
            # The changes happened at the origin's time: records and events carry it.
            txn.timestamp = entry.timestamp
            seq = self.log.append(
                txn, entry.origin, entry.origin_seq, entry.timestamp, entry.changes
            )
            for change in entry.changes:
                self._apply_change(txn, change, entry.version, seq)
            self.log.mark_applied(txn, entry.origin, entry.origin_seq)
            applied += 1
        txn.timestamp = own_timestamp
        self.log.set_position(txn, peer, through)
        return applied

    def apply_copy(self, txn: Transaction, records: Iterable[CopiedRecord]) -> int:
        """
        Merge base-copy C{records} into this node's tables (records only this node holds are
        left alone); return how many records changed.
        """
        self.recorder.exclude(txn)
        own_timestamp = txn.timestamp
        seq = self.log.head(txn)
        changed = 0
        for record in records:
            table = self.tables(record.database, record.table)
            if table is None:
                continue
            incoming = RecordState(record.value, record.base, record.stamps)
            before = self.versions.state(txn, table, record.id)
            after = merge(before, incoming)
            if after is not None:
                txn.timestamp = after.version[0]
                self._write(txn, table, record.id, before, after, seq, PUT, None)
                changed += 1
        txn.timestamp = own_timestamp
        return changed

    def finish_copy(
        self, txn: Transaction, peer: str, vector: dict[str, int], through: int
    ) -> None:
        """
        Record a completed base copy from C{peer}: its data held every entry of C{vector},
        and C{peer}'s log continues after C{through}.
        """
        self.log.absorb(txn, vector)
        self.log.set_position(txn, peer, through)

    def _apply_change(self, txn: Transaction, change: Change, version: Version, seq: int) -> None:
        table = self.tables(change.database, change.table)
        if table is None:
            return
        if change.type == MESSAGE:
            txn.record_change(ChangeEvent(
                change.database, change.table, change.id, MESSAGE, change.value, version[0],
                change.user,
            ))
            return
        before = self.versions.state(txn, table, change.id)
        after = resolve(before, change, version)
        if after is None:
            return
        patched = None
        if change.type == PATCH and before.value is not None:
            patched = tuple(
                name for name in change.patched or () if after.stamps.get(name) == version
            )
        event_type = PATCH if patched else PUT
        self._write(txn, table, change.id, before, after, seq, event_type, change.user, patched)

    def _write(
        self,
        txn: Transaction,
        table: Table,
        key: Any,
        before: RecordState,
        after: RecordState,
        seq: int,
        event_type: str,
        user: Optional[str],
        patched: Optional[tuple[str, ...]] = None,
    ) -> None:
        if after.value is None:
            if before.value is not None:
                table.delete(txn, key, user=user)
        else:
            table.put(
                txn, after.value, event_type=event_type, user=user, stamp=False, patched=patched
            )
        self.versions.store(txn, table, key, after, seq)
