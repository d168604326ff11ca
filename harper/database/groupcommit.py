# -*- test-case-name: tests.database.test_groupcommit -*-
"""
Group commit: one writer thread runs every write that is waiting in one ZODB transaction, so
one disk sync acknowledges many writes.

Each write still behaves as its own transaction for its caller: its Deferred fires only after
the commit that made it durable, with its own result and change events; a write that raises is
taken out of the group (the group is rolled back and re-run without it) so it never makes the
others fail, and it never leaves a trace.

Writes submitted on the reactor thread while it runs are handed to the writer thread once per
reactor iteration, together: the requests read from every ready connection in one pass form
one group, instead of the writer waking for the first and committing it alone (small groups
cost more per write: a commit costs the writer about 0.4 ms besides its writes, see
docs/benchmarks.md, "PUT").

Under load, clients that write in a loop tend to split into groups that take turns: while one
group commits, the next one's writes arrive, and the clients of the first come back only once
it is answered. When writes arrived during a commit (the writer is behind), the next group
therefore waits a little (C{gather}, 1 ms by default) for as many writes as the previous group
held to join it, so the turns merge into fewer, larger groups. A writer that keeps up commits
every write at once: a lone write never waits.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadable import isInIOThread
from ZODB.POSException import ConflictError

from harper.database.backoff import conflict_pause
from harper.database.transaction import Transaction, TransactionRunner
from harper.errors import TransactionConflict

_STOP = object()

Work = Callable[[Transaction], Any]


class GroupCommitter:
    """
    The writer thread.

    :param runner: provides the connection, clock, change feed and reactor.
    :param max_group: a group holding this many writes takes no further batch of writes.
    :param gather: the most seconds a group waits for more writes when the writer is behind
        (see the module's description); 0 never waits.
    """

    _log = Logger()

    def __init__(self, runner: TransactionRunner, max_group: int = 256, gather: float = 0.001) -> None:
        self._runner = runner
        self._max_group = max_group
        self._gather = gather
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._batch: list = []
        self._flushing: Any = None
        # The size of the last group when writes arrived while it committed, else 0.
        self._behind = 0

    def start(self) -> None:
        """
        Start the writer thread.
        """
        self._thread = threading.Thread(target=self._loop, name="harper-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """
        Finish the writes already queued, then stop the writer thread.
        """
        if self._flushing is not None and self._flushing.active():
            self._flushing.cancel()
        self._flush()
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def submit(self, work: Work) -> Deferred:
        """
        Queue C{work}; the Deferred fires (on the reactor thread) with its result once the
        group it joined committed, or fails with its exception.
        """
        d: Deferred = Deferred()
        reactor = self._runner.reactor
        if not (getattr(reactor, "running", False) and isInIOThread()):
            self._queue.put([(work, d)])
            return d
        if not self._batch:
            self._flushing = reactor.callLater(0, self._flush)
        self._batch.append((work, d))
        return d

    def _flush(self) -> None:
        """
        Hand the writes submitted in this reactor iteration to the writer thread.
        """
        batch, self._batch = self._batch, []
        if batch:
            self._queue.put(batch)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group, stopping = self._collect(list(first))
            self._behind = 0
            self._commit_group(group)
            if stopping:
                return

    def _collect(self, group: list) -> tuple[list, bool]:
        """
        Add the queued batches to C{group}; when the writer is behind, wait up to C{gather}
        seconds for batches until the group holds as many more writes as the previous group.
        Return the group and whether the writer was asked to stop.
        """
        target = min(self._max_group, len(group) + self._behind)
        deadline = None
        while len(group) < self._max_group:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                if len(group) >= target:
                    break
                if deadline is None:
                    deadline = time.monotonic() + self._gather
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if batch is _STOP:
                return group, True
            group.extend(batch)
        return group, False

    def _commit_group(self, group: list) -> None:
        runner = self._runner
        manager, connection = runner.connection_for_thread()
        retries = runner.retries
        conflicts = 0
        pending = list(group)
        while pending:
            manager.begin()
            done: list[tuple[Deferred, Any, Transaction]] = []
            failed = None
            # The units of work share one ZODB transaction, so they share its table lookups.
            stores: dict = {}
            for index, (work, d) in enumerate(pending):
                txn = Transaction(connection, runner.timestamp(), conflicts + 1, table_stores=stores)
                try:
                    with runner.current_transaction(txn):
                        result = work(txn)
                        runner.run_commit_steps(txn)
                except BaseException:
                    failed = (index, Failure())
                    break
                done.append((d, result, txn))
            if failed is not None:
                manager.abort()
                index, failure = failed
                runner.deliver(pending[index][1], failure, [])
                del pending[index]
                continue
            try:
                manager.commit()
            except ConflictError:
                manager.abort()
                conflicts += 1
                if conflicts > retries:
                    self._fail_all(pending, Failure(TransactionConflict("the writes kept conflicting with other writers")))
                    return
                time.sleep(conflict_pause(conflicts))
                continue
            except BaseException:
                manager.abort()
                self._log.failure("group commit failed")
                self._fail_all(pending, Failure())
                return
            for _d, _result, txn in done:
                txn.finish(True)
            runner.bound_invalidations()
            # Writes queued before the answers go out arrived during the commit: behind.
            self._behind = 0 if self._queue.empty() else len(group)
            # One wake-up of the reactor for the whole group.
            runner.deliver_all([(d, result, txn.changes) for d, result, txn in done])
            return

    def _fail_all(self, pending: list, failure: Failure) -> None:
        self._runner.deliver_all([(d, failure, []) for _work, d in pending])
