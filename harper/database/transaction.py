# -*- test-case-name: tests.database.test_transaction -*-
"""
Run work in one ZODB transaction, off the reactor thread, retrying on conflicts.

Each pool thread keeps its own ZODB connection and transaction manager. A unit of work receives
a L{Transaction}; when it returns, the transaction commits; when it raises, it aborts and nothing
it wrote is visible. A L{ZODB.POSException.ConflictError} re-runs the whole unit (bounded). The
change events of a committed transaction are handed to the L{ChangeFeed} on the reactor thread
before the caller's Deferred fires; aborted work emits nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator, Optional, TypeVar

import transaction as zodb_transaction
import ZODB
from BTrees.OOBTree import OOBTree
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadable import isInIOThread
from twisted.python.threadpool import ThreadPool
from ZODB.mvccadapter import MVCCAdapterInstance
from ZODB.POSException import ConflictError

from harper.database.backoff import conflict_pause
from harper.database.events import ChangeEvent, ChangeFeed
from harper.errors import TransactionConflict

T = TypeVar("T")

_ROOT_KEY = "harper.databases"


class ReadOnlyTransaction(RuntimeError):
    """
    Work run with L{TransactionRunner.read} tried to write: a bug in the caller's choice of
    lane, never a client error.
    """


class _Clock:
    """
    Transaction timestamps in epoch milliseconds, strictly increasing within the process.
    """

    def __init__(self) -> None:
        self._last = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            stamp = max(time.time() * 1000.0, self._last + 0.001)
            self._last = stamp
            return stamp

    def observe(self, stamp: float) -> None:
        """
        Make every later timestamp greater than C{stamp} (one seen from another node), as a
        hybrid logical clock does.
        """
        with self._lock:
            self._last = max(self._last, stamp)


class Transaction:
    """
    One attempt at a unit of work: the ZODB connection it reads and writes through, and the
    change events it produced.

    :ivar timestamp: epoch milliseconds, used for updated times and record versions.
    :ivar changes: change events to emit if the transaction commits.
    :ivar attempt: 1 for the first try, more after conflicts.
    """

    def __init__(self, connection: Any, timestamp: float, attempt: int, read_only: bool = False,
                 table_stores: Optional[dict[str, OOBTree]] = None) -> None:
        self.connection = connection
        self.timestamp = timestamp
        self.attempt = attempt
        self.read_only = read_only
        self.changes: list[ChangeEvent] = []
        self._after_commit: list[Callable[[], None]] = []
        self._on_end: list[Callable[[], None]] = []
        self._table_stores: dict[str, OOBTree] = {} if table_stores is None else table_stores

    def databases(self) -> OOBTree:
        """
        The persistent mapping of database name to its tables mapping.
        """
        root = self.connection.root()
        databases = root.get(_ROOT_KEY)
        if databases is None:
            databases = root[_ROOT_KEY] = OOBTree()
        return databases

    def table_stores(self, database: str, create: bool = False) -> Optional[OOBTree]:
        """
        The mapping of table name to L{harper.database.table.TableStore} of one database
        (looked up once per transaction, or once per read snapshot: every table access asks
        for it).
        """
        tables = self._table_stores.get(database)
        if tables is not None:
            return tables
        databases = self.databases()
        tables = databases.get(database)
        if tables is None and create:
            tables = databases[database] = OOBTree()
        if tables is not None:
            self._table_stores[database] = tables
        return tables

    def record_change(self, event: ChangeEvent) -> None:
        """
        Queue C{event} for delivery after the commit.

        :raises ReadOnlyTransaction: in a read-only transaction.
        """
        if self.read_only:
            raise ReadOnlyTransaction("a read-only transaction cannot write")
        self.changes.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """
        Call C{callback()} in the worker thread once this transaction committed.
        """
        self._after_commit.append(callback)

    def on_end(self, callback: Callable[[], None]) -> None:
        """
        Call C{callback()} in the worker thread when this attempt ends, committed or not.
        """
        self._on_end.append(callback)

    def finish(self, committed: bool) -> None:
        """
        Run the end-of-attempt callbacks (and the after-commit ones when C{committed}).
        """
        for callback in self._on_end:
            callback()
        if committed:
            for callback in self._after_commit:
                callback()


class _ReadSnapshot:
    """
    One thread's read-only connection, kept on the same snapshot from read to read until
    another connection commits (begin and abort cost more than a cached read): for
    FileStorage, ZODB's MVCC adapter queues the objects every commit changed for each other
    connection before the committing thread acknowledges anything, so a read that finds the
    queue empty sees the latest committed state, the writes already acknowledged included.
    Storages without that adapter (RelStorage) renew the snapshot for every read.

    :cvar RENEW_AFTER: reads served from one snapshot before it is renewed anyway, which lets
        ZODB shrink the connection's object cache.
    """

    RENEW_AFTER = 1000

    def __init__(self, db: ZODB.DB) -> None:
        self.manager = zodb_transaction.TransactionManager(explicit=True)
        self.connection = db.open(transaction_manager=self.manager)
        storage = self.connection._storage
        self._adapter = storage if isinstance(storage, MVCCAdapterInstance) else None
        self._open = False
        self._reads = 0
        #: The table stores looked up on this snapshot (see L{Transaction.table_stores}).
        self.table_stores: dict[str, OOBTree] = {}

    def _current(self) -> bool:
        if not self._open or self._reads >= self.RENEW_AFTER or self._adapter is None:
            return False
        # None means "everything changed"; a non-empty set lists what other commits changed.
        # (Read without the adapter's lock: a commit that lands after this check was not
        # acknowledged before the read started, so the older snapshot is still a right answer.)
        invalidations = self._adapter._invalidations
        return invalidations is not None and not invalidations

    def begin(self) -> Any:
        """
        The connection, on the latest committed snapshot (renewed when it is not).
        """
        if self._current():
            self._reads += 1
            return self.connection
        if self._open:
            self.manager.abort()
        self.manager.begin()
        self._open = True
        self._reads = 1
        self.table_stores = {}
        return self.connection

    def end(self, failed: bool) -> None:
        """
        After a read: drop the snapshot when the read failed or changed an object in memory,
        so the next read never sees what it left behind.
        """
        if failed or self.connection._registered_objects:
            self.discard()

    def discard(self) -> None:
        """
        Abort the snapshot's transaction; the next read begins a new one.
        """
        if self._open:
            self.manager.abort()
            self._open = False
            self.table_stores = {}

    def close(self) -> None:
        """
        Discard the snapshot and close the connection.
        """
        self.discard()
        self.connection.close()


class TransactionRunner:
    """
    Runs units of work in transactions on a thread pool.

    :param db: the open ZODB database.
    :param reactor: used to return results and events to the reactor thread.
    :param pool: the thread pool the work runs on; started and stopped by its owner.
    :param feed: receives the change events of committed transactions.
    :param retries: how many times a conflicting unit is run again before giving up.
    """

    _log = Logger()

    def __init__(
        self,
        db: ZODB.DB,
        reactor: IReactorFromThreads,
        pool: ThreadPool,
        feed: ChangeFeed,
        retries: int = 10,
    ) -> None:
        self.db = db
        self.feed = feed
        self._reactor = reactor
        self._pool = pool
        self._retries = retries
        self._local = threading.local()
        self._clock = _Clock()
        self._connections: list[Any] = []
        self._snapshots: list[_ReadSnapshot] = []
        self._connections_lock = threading.Lock()
        self._commit_steps: list[Callable[[Transaction], None]] = []

    def run(self, work: Callable[[Transaction], T]) -> Deferred[T]:
        """
        Run C{work(transaction)} on the pool in a transaction; the Deferred fires with its
        result after the commit (and after the change events were delivered), or fails with
        its exception after the abort.
        """
        d = deferToThreadPool(self._reactor, self._pool, self._attempt_all, work)

        def deliver(outcome: tuple[T, list[ChangeEvent]]) -> T:
            result, changes = outcome
            self.feed.emit(changes)
            return result

        return d.addCallback(deliver)

    def read(self, work: Callable[[Transaction], T]) -> T:
        """
        Run read-only C{work} at once in the calling thread (the reactor thread, for reads
        served from the ZODB cache) on the latest committed snapshot, through a connection
        kept for reads (see L{_ReadSnapshot}); nothing it changes in memory outlives it.
        """
        local = self._local
        current = getattr(local, "current", None)
        if current is not None:
            return work(current)
        snapshot = getattr(local, "snapshot", None) or self._open_snapshot()
        connection = snapshot.begin()
        txn = local.current = Transaction(connection, self._clock.now(), 1, True, snapshot.table_stores)
        failed = True
        try:
            result = work(txn)
            failed = False
        finally:
            local.current = None
            snapshot.end(failed)
        return result

    def _open_snapshot(self) -> _ReadSnapshot:
        snapshot = self._local.snapshot = _ReadSnapshot(self.db)
        with self._connections_lock:
            self._snapshots.append(snapshot)
        return snapshot

    def run_blocking(self, work: Callable[[Transaction], T]) -> T:
        """
        Run C{work} in a transaction in the calling thread, blocking it (so never in the
        reactor thread of a serving daemon); change events are delivered on the reactor
        thread.
        """
        current = getattr(self._local, "current", None)
        if current is not None:
            # Nested call from work already running in this thread: join its transaction.
            return work(current)
        result, changes = self._attempt_all(work)
        if changes:
            if isInIOThread() or not getattr(self._reactor, "running", False):
                self.feed.emit(changes)
            else:
                self._reactor.callFromThread(self.feed.emit, changes)
        return result

    @property
    def reactor(self) -> IReactorFromThreads:
        """
        The reactor results and events are returned to.
        """
        return self._reactor

    @property
    def retries(self) -> int:
        """
        How many times conflicting work is run again.
        """
        return self._retries

    def timestamp(self) -> float:
        """
        A new transaction timestamp (epoch ms, increasing).
        """
        return self._clock.now()

    def observe_timestamp(self, stamp: float) -> None:
        """
        Make every later transaction timestamp greater than C{stamp}, a timestamp from another
        node (the receive rule of a hybrid logical clock).
        """
        self._clock.observe(stamp)

    def add_commit_step(self, step: Callable[[Transaction], None]) -> Callable[[], None]:
        """
        Call C{step(txn)} in every transaction that recorded changes, after its work and
        before its commit, in the same ZODB transaction (so what C{step} writes commits or
        aborts with the work); return a function that removes the step. An exception from
        C{step} aborts the transaction as one from the work would.
        """
        self._commit_steps.append(step)
        return lambda: self._commit_steps.remove(step)

    def run_commit_steps(self, txn: Transaction) -> None:
        """
        Run the commit steps for C{txn} if it recorded changes (called by whatever commits).
        """
        if txn.changes:
            for step in tuple(self._commit_steps):
                step(txn)

    @contextlib.contextmanager
    def current_transaction(self, txn: Transaction) -> Iterator[Transaction]:
        """
        Make C{txn} the transaction nested calls in this thread join, for the block.
        """
        self._local.current = txn
        try:
            yield txn
        finally:
            self._local.current = None

    def deliver(self, d: Deferred, outcome: Any, changes: list[ChangeEvent]) -> None:
        """
        From a worker thread: emit C{changes}, then fire C{d} with C{outcome} (a result or a
        Failure), on the reactor thread.
        """
        self.deliver_all([(d, outcome, changes)])

    def deliver_all(self, outcomes: list[tuple[Deferred, Any, list[ChangeEvent]]]) -> None:
        """
        Like L{deliver} for several units of work at once, in order, with one wake-up of the
        reactor thread.
        """

        def fire() -> None:
            for d, outcome, changes in outcomes:
                self.feed.emit(changes)
                if isinstance(outcome, Failure):
                    d.errback(outcome)
                else:
                    d.callback(outcome)

        self._reactor.callFromThread(fire)

    def connection_for_thread(self) -> tuple[Any, Any]:
        """
        The (transaction manager, connection) pair of the calling thread, opened on first use.
        """
        return self._connection()

    def _connection(self) -> tuple[Any, Any]:
        local = self._local
        if getattr(local, "connection", None) is None:
            manager = zodb_transaction.TransactionManager(explicit=True)
            local.manager = manager
            local.connection = self.db.open(transaction_manager=manager)
            with self._connections_lock:
                self._connections.append(local.connection)
        return local.manager, local.connection

    def _attempt_all(self, work: Callable[[Transaction], T]) -> tuple[T, list[ChangeEvent]]:
        manager, connection = self._connection()
        for attempt in range(1, self._retries + 2):
            txn = Transaction(connection, self._clock.now(), attempt)
            manager.begin()
            committed = False
            try:
                with self.current_transaction(txn):
                    result = work(txn)
                    self.run_commit_steps(txn)
                manager.commit()
                committed = True
            except ConflictError:
                manager.abort()
                self._log.debug("conflict on attempt {attempt}, retrying", attempt=attempt)
                time.sleep(conflict_pause(attempt))
                continue
            except BaseException:
                manager.abort()
                raise
            finally:
                txn.finish(committed)
            self.bound_invalidations()
            return result, txn.changes
        raise TransactionConflict(
            f"the transaction conflicted with concurrent writes {self._retries + 1} times"
        )

    def bound_invalidations(self, limit: int = 20_000) -> None:
        """
        Keep the connections that sit idle (worker threads with nothing to do, a read snapshot
        no request renews) from growing without end: ZODB queues the objects changed by every
        commit for each other open connection until that connection begins a transaction. A
        queue longer than C{limit} objects becomes "everything changed" (the connection drops
        its whole object cache when it is next used). Any thread may call this; the writers
        do after their commits.
        """
        with self._connections_lock:
            connections = self._connections + [snapshot.connection for snapshot in self._snapshots]
        for connection in connections:
            adapter = connection._storage
            if isinstance(adapter, MVCCAdapterInstance):
                queued = adapter._invalidations
                if queued is not None and len(queued) > limit:
                    adapter._invalidateCache()

    def close(self) -> None:
        """
        Close every connection the worker threads opened (call after the pool stopped).
        """
        with self._connections_lock:
            for snapshot in self._snapshots:
                snapshot.close()
            self._snapshots.clear()
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
