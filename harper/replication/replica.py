# -*- test-case-name: tests.replication.test_apply -*-
"""
This node's side of replication: its change log, record versions and replicated tables, and
the two ways to reach them (a read on the reactor thread, a write in a transaction).
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, TypeVar, Union

from twisted.internet.defer import Deferred

from harper.database.groupcommit import GroupCommitter
from harper.database.table import Table
from harper.database.transaction import Transaction, TransactionRunner
from harper.replication.apply import EntryApplier
from harper.replication.log import ChangeLog
from harper.replication.recorder import ChangeRecorder, replicated_tables
from harper.replication.versions import RecordVersions

T = TypeVar("T")


class Replica:
    """
    The replicated data of the node named C{node}.

    :param node: this node's name.
    :param runner: the node's transaction runner.
    :param tables: every table of the node by C{(database, name)}, read at each use.
    :param databases: C{"*"} or the names of the replicated databases.
    :param writer: the group committer writes join, or C{None} to commit on the pool.
    :ivar databases: C{"*"} or the names of the replicated databases.
    :ivar log: the change log.
    :ivar versions: the record versions.
    :ivar recorder: the commit step logging local transactions.
    :ivar applier: applies what peers send.
    """

    def __init__(
        self,
        node: str,
        runner: TransactionRunner,
        tables: Mapping[tuple[str, str], Table],
        databases: Union[str, tuple[str, ...]] = "*",
        writer: Optional[GroupCommitter] = None,
    ) -> None:
        self.node = node
        self.databases = databases
        self.runner = runner
        self.writer = writer
        self._tables = tables
        self.table_lookup = replicated_tables(tables, databases)
        self.log = ChangeLog(node)
        self.versions = RecordVersions(node)
        self.recorder = ChangeRecorder(self.log, self.versions, self.table_lookup)
        self.applier = EntryApplier(self.log, self.versions, self.recorder, self.table_lookup)
        self._remove_step: Optional[Callable[[], None]] = None

    @property
    def tables(self) -> list[Table]:
        """
        The replicated tables, by C{(database, name)}: those of C{tables} now (a
        L{harper.replication.recorder.ServedTables} includes tables created at run time).
        """
        return [
            table for key, table in sorted(self._tables.items(), key=lambda item: item[0])
            if self.table_lookup(*key) is not None
        ]

    def start_recording(self) -> None:
        """
        Log every local transaction that changes a replicated table from now on.
        """
        if self._remove_step is None:
            self._remove_step = self.runner.add_commit_step(self.recorder)

    def stop_recording(self) -> None:
        """
        Stop logging local transactions.
        """
        if self._remove_step is not None:
            self._remove_step()
            self._remove_step = None

    def read(self, work: Callable[[Transaction], T]) -> T:
        """
        Run read-only C{work} now, on a fresh snapshot (from the reactor thread).
        """
        return self.runner.read(work)

    def write(self, work: Callable[[Transaction], T]) -> "Deferred[T]":
        """
        Run C{work} in a write transaction; the Deferred fires after the commit.
        """
        if self.writer is not None:
            return self.writer.submit(work)
        return self.runner.run(work)

    def observe(self, timestamp: float) -> None:
        """
        Keep this node's clock ahead of C{timestamp}, seen from a peer.
        """
        self.runner.observe_timestamp(timestamp)

    def tables_of(self, databases: Union[str, tuple[str, ...]]) -> list[Table]:
        """
        The replicated tables in C{databases} (C{"*"} for all).
        """
        return [t for t in self.tables if databases == "*" or t.database in databases]
