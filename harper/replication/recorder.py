# -*- test-case-name: tests.replication.test_log -*-
"""
The commit step that logs local transactions: each transaction that changed replicated tables
(or published to them) becomes one log entry, and the versions of the records it wrote are
updated, in the transaction itself.

Transactions that apply entries received from peers log those entries themselves (with their
origin); L{ChangeRecorder.exclude} keeps the recorder away from them.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Iterator, Mapping, Optional

import attr

from harper.database.events import DELETE, MESSAGE, PATCH, PUT, ChangeEvent
from harper.database.table import Table
from harper.database.transaction import Transaction
from harper.replication.conflict import RecordState
from harper.replication.entries import Change, Version
from harper.replication.log import ChangeLog
from harper.replication.versions import RecordVersions

#: Finds the replicated table of an event: C{(database, table)} to the L{Table}, or C{None}
#: when the table does not replicate.
TableLookup = Callable[[str, str], Optional[Table]]


class ChangeRecorder:
    """
    The commit step (see L{harper.database.transaction.TransactionRunner.add_commit_step}).

    :param log: the node's change log.
    :param versions: the node's record versions.
    :param tables: finds the replicated table of a change.
    """

    def __init__(self, log: ChangeLog, versions: RecordVersions, tables: TableLookup) -> None:
        self.log = log
        self.versions = versions
        self.tables = tables
        self._excluded: "weakref.WeakSet[Transaction]" = weakref.WeakSet()

    def exclude(self, txn: Transaction) -> None:
        """
        Do not log C{txn} (it applies replicated entries and logs them itself).
        """
        self._excluded.add(txn)

    def __call__(self, txn: Transaction) -> None:
        if txn in self._excluded:
            return
        recorded = []
        for event in txn.changes:
            table = self.tables(event.database, event.table)
            if table is not None:
                recorded.append((self._change(event, table), table))
        if not recorded:
            return
        changes = [change for change, _ in recorded]
        seq = self.log.append(txn, self.log.node, None, txn.timestamp, changes)
        version: Version = (txn.timestamp, self.log.node)
        for change, table in recorded:
            self._record_version(txn, table, change, version, seq)

    def _change(self, event: ChangeEvent, table: Table) -> Change:
        """
        The change of C{event}; a patch names the attributes it set, with the managed update
        times (a patch event that does not say which counts as a whole write).
        """
        if event.type != PATCH:
            return Change.from_event(event)
        if event.patched is None:
            return attr.evolve(Change.from_event(event), type=PUT)
        attributes = table.definition.attributes
        updated = (attribute.name for attribute in attributes if attribute.updated_time)
        return Change.from_event(event, tuple(dict.fromkeys((*event.patched, *updated))))

    def _record_version(
        self, txn: Transaction, table: Table, change: Change, version: Version, seq: int
    ) -> None:
        if change.type == MESSAGE:
            return
        if change.type == DELETE:
            record = RecordState(None, version)
        elif change.type == PATCH:
            names = change.patched or ()
            record = self.versions.after_local_patch(txn, table, change.id, names, version)
        else:
            record = RecordState(change.value, version)
        self.versions.store(txn, table, change.id, record, seq)


class ServedTables(Mapping[tuple[str, str], Table]):
    """
    The tables of a node's table resources as they are at each lookup: C{resources} is the
    runtime's live mapping (L{harper.components.runtime.Runtime.resources}), so a table created
    at run time (C{create_table}), redefined (C{create_attribute}) or reloaded with its
    application is found as it is served now, without a restart.

    :param resources: C{(database, table)} to the table's resource (its C{table}).
    """

    def __init__(self, resources: Mapping[tuple[str, str], Any]) -> None:
        self._resources = resources

    def __getitem__(self, key: tuple[str, str]) -> Table:
        return self._resources[key].table

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._resources))

    def __len__(self) -> int:
        return len(self._resources)


def replicated_tables(tables: Mapping[tuple[str, str], Table], databases: object) -> TableLookup:
    """
    A L{TableLookup} over C{tables} for the C{databases} setting (C{"*"} or names): tables
    declared with C{replicate: false} never replicate. Each lookup reads C{tables} anew (a
    L{ServedTables} follows the tables the node serves).
    """

    def lookup(database: str, name: str) -> Optional[Table]:
        if databases != "*" and database not in databases:
            return None
        table = tables.get((database, name))
        if table is None or not table.definition.replicate:
            return None
        return table

    return lookup
