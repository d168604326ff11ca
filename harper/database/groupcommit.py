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
cost more per write: every group pickles the index buckets it touched).
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
    """

    _log = Logger()

    def __init__(self, runner: TransactionRunner, max_group: int = 256) -> None:
        self._runner = runner
        self._max_group = max_group
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._batch: list = []
        self._flushing: Any = None

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
            group = list(first)
            stopping = False
            while len(group) < self._max_group:
                try:
                    batch = self._queue.get_nowait()
                except queue.Empty:
                    break
                if batch is _STOP:
                    stopping = True
                    break
                group.extend(batch)
            self._commit_group(group)
            if stopping:
                return

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
            for index, (work, d) in enumerate(pending):
                txn = Transaction(connection, runner.timestamp(), conflicts + 1)
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
            # One wake-up of the reactor for the whole group.
            runner.deliver_all([(d, result, txn.changes) for d, result, txn in done])
            return

    def _fail_all(self, pending: list, failure: Failure) -> None:
        self._runner.deliver_all([(d, failure, []) for _work, d in pending])
