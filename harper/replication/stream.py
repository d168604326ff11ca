# -*- test-case-name: tests.replication.test_stream -*-
"""
Serving subscribers: each L{Publication} sends one peer what it lacks of this node's log
(after a base copy when it needs one), keeping at most a window of unconfirmed entries in
flight, and more as the peer confirms and as new entries are committed.

This module knows no sockets: a publication is given a function that sends a message and one
that ends the subscription.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from twisted.logger import Logger

from harper.database.transaction import Transaction
from harper.replication.copy import CopyCursor, read_chunk
from harper.replication.entries import LogEntry
from harper.replication.replica import Replica
from harper.replication.wire import Ack, CopyAck, CopyChunk, CopyDone, Entries, Message, Subscribe

Send = Callable[[Message], None]


def _wanted(databases: Union[str, tuple[str, ...]], database: str) -> bool:
    return databases == "*" or database in databases


class Publication:
    """
    One subscriber's stream.

    :param replica: this node's data.
    :param request: the subscription.
    :param send: sends a message to the subscriber.
    :param close: ends the subscription, telling the subscriber why.
    :param batch: the most entries (or copied records) in one message.
    :param window: the most log positions sent and not yet confirmed.
    :ivar confirmed: the position in this log the subscriber confirmed.
    :ivar copying: whether a base copy is in progress.
    :ivar active: C{False} once stopped.
    """

    _log = Logger()

    def __init__(
        self,
        replica: Replica,
        request: Subscribe,
        send: Send,
        close: Callable[[str], None] = lambda reason: None,
        batch: int = 200,
        window: int = 2000,
    ) -> None:
        self.replica = replica
        self.request = request
        self.subscriber = request.node
        self.confirmed = 0
        self.copying = False
        self._send = send
        self._close = close
        self._batch = batch
        self._window = window
        self._known = dict(request.vector)
        self._sent = 0
        self._copy: Optional[CopyCursor] = None
        self._copy_result: Optional[CopyDone] = None
        self._chunks_sent = 0
        self._chunks_confirmed = 0
        self._announced = False
        self._tables = replica.tables_of(request.databases)
        self.active = True

    def start(self) -> None:
        """
        Decide between streaming and a base copy, and start sending.
        """
        self.replica.read(self._begin)
        self.pump()

    def _begin(self, txn: Transaction) -> None:
        log = self.replica.log
        reason = log.missing_history(txn, self._known, self.subscriber)
        if reason is None:
            self._sent = self.confirmed = log.start(txn, self._known, self.subscriber)
            return
        self._log.info("base copy to {peer}: {reason}", peer=self.subscriber, reason=reason)
        head = log.head(txn)
        self._sent = self.confirmed = head
        self._copy = CopyCursor()
        self._copy_result = CopyDone(log.vector(txn), head)
        self.copying = True

    def stop(self) -> None:
        """
        Send nothing more.
        """
        self.active = False

    def end(self, reason: str) -> None:
        """
        Send nothing more and end the subscription for C{reason}.
        """
        if self.active:
            self.stop()
            self._close(reason)

    def received(self, message: Message) -> None:
        """
        Handle a confirmation from the subscriber.
        """
        if isinstance(message, Ack):
            self.confirmed = max(self.confirmed, message.through)
        elif isinstance(message, CopyAck):
            self._chunks_confirmed = max(self._chunks_confirmed, message.number)
        self.pump()

    def pump(self) -> None:
        """
        Send as much as the window allows.
        """
        while self.active:
            if self.copying:
                if not self._send_chunk():
                    return
            elif not self._send_entries():
                return

    def _send_chunk(self) -> bool:
        if self._chunks_sent - self._chunks_confirmed >= 2:
            return False
        if self._copy is None:
            self._send(self._copy_result)
            self.copying = False
            self._announced = True
            return True
        versions, cursor = self.replica.versions, self._copy
        records, self._copy = self.replica.read(
            lambda txn: read_chunk(txn, self._tables, versions, cursor, self._batch)
        )
        if records:
            self._chunks_sent += 1
            self._send(CopyChunk(self._chunks_sent, tuple(records)))
        return True

    def _send_entries(self) -> bool:
        if self._sent - self.confirmed >= self._window:
            return False
        log = self.replica.log
        head, entries = self.replica.read(
            lambda txn: (log.head(txn), log.read(txn, self._sent, self._batch))
        )
        if not entries:
            if not self._announced:
                # A subscriber that lacks nothing learns that it is streaming, and the head.
                self._announced = True
                self._send(Entries(head, self._sent, ()))
            return False
        wanted = [e for e in map(self._for_subscriber, entries) if e is not None]
        self._sent = entries[-1].seq
        self._announced = True
        self._send(Entries(head, self._sent, tuple(wanted)))
        return True

    def _for_subscriber(self, entry: LogEntry) -> Optional[LogEntry]:
        """
        C{entry} as the subscriber should get it: not at all when it came from the subscriber
        or the subscriber has it, else with only the changes of the databases it wants.
        """
        if entry.origin == self.subscriber or entry.origin_seq <= self._known.get(entry.origin, 0):
            return None
        self._known[entry.origin] = entry.origin_seq
        changes = tuple(c for c in entry.changes if _wanted(self.request.databases, c.database))
        if len(changes) == len(entry.changes):
            return entry
        if not changes:
            return None
        return LogEntry(entry.seq, entry.origin, entry.origin_seq, entry.timestamp, changes)
