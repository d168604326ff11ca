# -*- test-case-name: tests.database.test_audit -*-
"""
The audit log: what every committed transaction changed, per table, ordered by transaction
time, written in the same ZODB transaction as the changes themselves.

L{AuditLog} is a commit step (see
L{harper.database.transaction.TransactionRunner.add_commit_step}): a transaction that aborts
leaves no audit entry, and a committed change always has one. Each table keeps an C{OOBTree}
from timestamp (epoch ms) to an L{AuditEntry}: one per commit (a group commit writes one for
all its units of work, which keeps the cost per write small), holding the changes of the
table as L{AuditChange}s, each with its own timestamp and the record before it.
L{AuditHistory} reads the log back as change events (subscriptions replaying history), and
L{AuditPruner} drops what is older than the retention period.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, Optional

import attr
from BTrees.OOBTree import OOBTree
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harper.database.events import ChangeEvent
from harper.database.packed import PackedState
from harper.database.transaction import Transaction, TransactionRunner

_ROOT_KEY = "harper.audit"


@attr.frozen
class AuditChange:
    """
    One change of one record in the audit log.

    :ivar type: the change event's type (C{put}, C{patch}, C{delete} or C{message}).
    :ivar id: the record's primary key.
    :ivar value: the record after the change (the message for C{message}; C{None} after a
        delete).
    :ivar original: the record before the change, C{None} when there was none.
    :ivar user: who made the change, if known.
    :ivar patched: for a patch, the attributes it set.
    :ivar timestamp: the change event's timestamp (the transaction's, or the origin node's
        for a replicated write).
    """

    type: str
    id: Any
    value: Any
    original: Any
    user: Optional[str]
    patched: Optional[tuple[str, ...]]
    timestamp: float

    @staticmethod
    def stored_event(event: ChangeEvent) -> tuple:
        """
        The compact form an L{AuditEntry} keeps of the audit record of a committed change
        event: a tuple of the attributes in order (built without an L{AuditChange}: this
        runs for every write).
        """
        return (event.type, event.id, event.value, event.original, event.user, event.patched,
                event.timestamp)

    def event(self, database: str, table: str) -> ChangeEvent:
        """
        The change event this records, as subscribers received it.
        """
        return ChangeEvent(database, table, self.id, self.type, self.value, self.timestamp,
                           self.user, self.patched, self.original)

    @classmethod
    def from_stored(cls, stored: tuple) -> "AuditChange":
        """
        The inverse of L{stored_event}.
        """
        return cls(*stored)


class AuditEntry(PackedState):
    """
    The changes of one table that one ZODB commit made (all the units of work of a group
    commit together), a persistent object of its own so that appending to a table's log never
    rewrites the entries before it; stored packed (one plain pickle, see
    L{harper.database.packed}), which is most of what a write saves by it.

    :ivar changes: the changes, as L{AuditChange.stored_event} tuples, in commit order.
    """

    def __init__(self) -> None:
        self.changes: list[tuple] = []

    def append(self, changes: list[tuple]) -> None:
        """
        Add C{changes} (stored tuples) at the end.
        """
        self.changes.extend(changes)
        self._p_changed = True

    def audit_changes(self) -> list[AuditChange]:
        """
        The changes as L{AuditChange}s.
        """
        return [AuditChange.from_stored(stored) for stored in self.changes]


class _Pending(threading.local):
    """
    Per thread, the entries the thread's current ZODB transaction added: every unit of work
    of a group commit appends to them instead of adding entries of its own.

    :ivar transaction: the ZODB transaction the entries belong to.
    :ivar entries: C{(database, table)} to the entry.
    """

    transaction: Any = None
    entries: dict[tuple[str, str], AuditEntry]


class AuditLog:
    """
    The audit log of every table, read and written inside transactions.

    A table's log maps the timestamp of the first unit of work of each commit to an
    L{AuditEntry}; each change keeps its own timestamp, by which the log is read.

    :param excluded: databases whose tables are not audited (harper's own C{system}
        database, which holds password hashes).
    """

    def __init__(self, excluded: tuple[str, ...] = ()) -> None:
        self._excluded = frozenset(excluded)
        self._pending = _Pending()

    # -- writing -------------------------------------------------------------------------

    def __call__(self, txn: Transaction) -> None:
        """
        The commit step: add the changes C{txn} recorded to the logs of their tables.
        """
        grouped: dict[tuple[str, str], list[tuple]] = {}
        excluded = self._excluded
        for event in txn.changes:
            if event.database not in excluded:
                grouped.setdefault((event.database, event.table), []).append(
                    AuditChange.stored_event(event)
                )
        if not grouped:
            return
        pending = self._pending
        current = txn.connection.transaction_manager.get()
        if pending.transaction is not current:
            pending.transaction, pending.entries = current, {}
        for key, changes in grouped.items():
            entry = pending.entries.get(key)
            if entry is None:
                entry = pending.entries[key] = self._new_entry(txn, key)
            entry.append(changes)

    def _new_entry(self, txn: Transaction, key: tuple[str, str]) -> AuditEntry:
        trails = self._trails(txn, create=True)
        trail = trails.get(key)
        if trail is None:
            trail = trails[key] = OOBTree()
        entry = trail.get(txn.timestamp)
        if entry is None:
            # (Present only when another process's commit had the same timestamp.)
            entry = trail[txn.timestamp] = AuditEntry()
        return entry

    def delete_before(self, txn: Transaction, database: str, table: str, before: float,
                      limit: Optional[int] = None) -> int:
        """
        Remove up to C{limit} (all, when C{None}) of the oldest entries of one table whose
        timestamp is before C{before} (epoch ms); return how many were removed.
        """
        trail = self.trail(txn, database, table)
        if trail is None:
            return 0
        keys = trail.keys(max=before, excludemax=True)
        stamps = list(keys[:limit] if limit is not None else keys)
        for stamp in stamps:
            del trail[stamp]
        return len(stamps)

    def prune(self, txn: Transaction, before: float, limit: int = 1000) -> int:
        """
        Remove up to C{limit} entries older than C{before} (epoch ms) across every table;
        return how many were removed.
        """
        trails = self._trails(txn, create=False)
        removed = 0
        for database, table in list(trails.keys()) if trails is not None else ():
            if removed >= limit:
                break
            removed += self.delete_before(txn, database, table, before, limit - removed)
        return removed

    # -- reading -------------------------------------------------------------------------

    def trail(self, txn: Transaction, database: str, table: str) -> Optional[OOBTree]:
        """
        The log of one table (timestamp to L{AuditEntry}), or C{None} before its first entry.
        """
        trails = self._trails(txn, create=False)
        return trails.get((database, table)) if trails is not None else None

    def changes(
        self, txn: Transaction, database: str, table: str, start: Optional[float] = None,
        end: Optional[float] = None, reverse: bool = False,
    ) -> Iterator[AuditChange]:
        """
        The changes of one table whose timestamps are from C{start} through C{end} (both
        inclusive, either open), oldest first (newest first with C{reverse}).
        """
        trail = self.trail(txn, database, table)
        if trail is None:
            return
        low = start
        if start is not None:
            # The entry before may hold later changes of the commit that began before start.
            try:
                low = trail.maxKey(start)
            except ValueError:
                low = None
        keys = trail.keys(min=low, max=end)
        indexes = range(len(keys) - 1, -1, -1) if reverse else range(len(keys))
        for index in indexes:
            found = trail[keys[index]].audit_changes()
            for change in reversed(found) if reverse else found:
                stamp = change.timestamp
                if (start is None or stamp >= start) and (end is None or stamp <= end):
                    yield change

    def _trails(self, txn: Transaction, create: bool) -> Optional[OOBTree]:
        root = txn.connection.root()
        trails = root.get(_ROOT_KEY)
        if trails is None and create:
            trails = root[_ROOT_KEY] = OOBTree()
        return trails


class AuditHistory:
    """
    The audit log read back as the change events subscribers receive, from the latest
    committed state (in the calling thread: see L{TransactionRunner.read}).

    :param runner: the transaction runner.
    :param log: the audit log.
    :cvar MAX_PREVIOUS: the most events C{previousCount} replays (Harper's cap).
    """

    MAX_PREVIOUS = 1000

    def __init__(self, runner: TransactionRunner, log: AuditLog) -> None:
        self.runner = runner
        self.log = log

    def events(
        self, database: str, table: str, accepts: Callable[[ChangeEvent], bool],
        start_time: Optional[float] = None, count: Optional[int] = None,
    ) -> list[ChangeEvent]:
        """
        The accepted change events of a table, oldest first: those from C{start_time}
        (inclusive) on, and of those (or of all) only the last C{count} when C{count} is
        given (at most L{MAX_PREVIOUS}).
        """
        wanted = None if count is None else max(0, min(count, self.MAX_PREVIOUS))

        def read(txn: Transaction) -> list[ChangeEvent]:
            found: list[ChangeEvent] = []
            if wanted == 0:
                return found
            changes = self.log.changes(txn, database, table, start_time, reverse=wanted is not None)
            for change in changes:
                event = change.event(database, table)
                if accepts(event):
                    found.append(event)
                    if len(found) == wanted:
                        break
            return found if wanted is None else found[::-1]

        return self.runner.read(read)


class AuditPruner:
    """
    Removes audit entries older than the retention period, in batches, every C{interval}
    seconds while started.

    :param runner: runs the pruning transactions.
    :param log: the audit log.
    :param clock: the time source (epoch seconds) and scheduler.
    :param retention: seconds entries are kept (Harper's C{logging.auditRetention}).
    :param batch: entries removed per transaction.
    """

    _log = Logger()

    def __init__(self, runner: TransactionRunner, log: AuditLog, clock: IReactorTime,
                 retention: float, batch: int = 1000) -> None:
        self._runner = runner
        self._log_store = log
        self._clock = clock
        self.retention = retention
        self._batch = batch
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock

    @property
    def interval(self) -> float:
        """
        Seconds between two prunings: a tenth of the retention, between one second and an
        hour.
        """
        return min(3600.0, max(1.0, self.retention / 10.0))

    def start(self) -> None:
        """
        Prune every L{interval} seconds from now on (the first time one interval from now:
        a daemon that starts has other work first).
        """
        self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        """
        Stop pruning.
        """
        if self._loop.running:
            self._loop.stop()

    def _tick(self) -> Deferred:
        # A failed pruning is logged; the next one tries again.
        return self.prune().addErrback(
            lambda failure: self._log.failure("pruning the audit log failed", failure)
        )

    def prune(self) -> Deferred:
        """
        Remove every expired entry, one batch per transaction; fires with how many were
        removed.
        """
        before = (self._clock.seconds() - self.retention) * 1000.0
        removed = 0

        def one_batch() -> Deferred:
            return self._runner.run(lambda txn: self._log_store.prune(txn, before, self._batch))

        def pruned(count: int) -> Any:
            nonlocal removed
            removed += count
            return removed if count < self._batch else one_batch().addCallback(pruned)

        return one_batch().addCallback(pruned)
