# -*- test-case-name: tests.mqtt.test_store -*-
"""
What the broker keeps across restarts, in ZODB: the retained messages of plain topics, the
sessions that outlive their connections (subscriptions, in-flight and queued messages, QoS 2
packet identifiers awaiting release) and the wills waiting for their delay.

Everything lives under one persistent L{BrokerRoot} in the database root, written through the
transaction runner (the group commit when it is on), so a Deferred from this module fires once
the write is durable. L{MemoryStore} has the same methods and keeps nothing, for a broker
without a database.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from BTrees.IOBTree import IOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from harper.mqtt.message import Delivery, Message
from harper.mqtt.state import SessionState

_ROOT_KEY = "harper.mqtt"

#: Runs a unit of work C{work(transaction)} in a transaction; fires after the commit.
Transact = Callable[[Callable[[Any], Any]], Deferred]

_log = Logger()


def logged(d: Deferred, what: str) -> Deferred:
    """
    Log the failure of C{d} (a store write nobody waits for) as "C{what} failed".
    """

    def failed(failure: Any) -> None:
        _log.failure("{what} failed", failure, what=what)

    return d.addErrback(failed)


class BrokerRoot(Persistent):
    """
    The broker's persistent state.

    :ivar retained: topic to the L{Message.to_record} of its retained message.
    :ivar sessions: client identifier to L{StoredSession}.
    :ivar wills: client identifier to its pending will (L{harper.mqtt.wills.PendingWill}
        record); C{None} until the first will is stored (roots stored before wills were).
    """

    wills: Any = None

    def __init__(self) -> None:
        self.retained = OOBTree()
        self.sessions = OOBTree()
        self.wills = OOBTree()


class StoredSession(Persistent):
    """
    One persistent session: its L{SessionState.to_record} and its queue, kept apart so that
    queuing a message for an absent client appends one entry instead of rewriting the session.

    :ivar record: the session without its queue.
    :ivar queue: sequence number to the L{Delivery.to_record} of a queued delivery.
    :ivar keys: the L{Message.key}s of the queued messages (C{None} in sessions stored before
        keys were): the worker processes that each route a message to an absent client all
        queue it, and it is kept once.
    """

    keys: Any = None

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.queue = IOBTree()
        self.keys = OOBTree()
        self.next_sequence = 0

    def append(self, delivery: dict[str, Any]) -> None:
        """
        Queue one delivery, unless its message is queued already.
        """
        key = delivery["message"].get("key")
        if key is not None:
            if self.keys is None:
                self.keys = OOBTree()
            if key in self.keys:
                return
            self.keys[key] = self.next_sequence
        self.queue[self.next_sequence] = delivery
        self.next_sequence += 1

    def replace(self, record: dict[str, Any], queue: Iterable[dict[str, Any]]) -> None:
        """
        Store a new snapshot of the session and its queue.
        """
        self.record = record
        self.queue.clear()
        if self.keys is not None:
            self.keys.clear()
        self.next_sequence = 0
        for delivery in queue:
            self.append(delivery)


def _session(stored: StoredSession, max_queued: int) -> SessionState:
    return SessionState.from_record(
        stored.record, [Delivery.from_record(d) for d in stored.queue.values()], max_queued)


def _root(txn: Any) -> BrokerRoot:
    root = txn.connection.root()
    broker_root = root.get(_ROOT_KEY)
    if broker_root is None:
        broker_root = root[_ROOT_KEY] = BrokerRoot()
    return broker_root


class BrokerStore:
    """
    The broker's state in ZODB.

    :param transact: runs a unit of work in a transaction (the group committer's C{submit} or
        the runner's C{run}).
    :param run_blocking: runs a unit of work in a transaction in the calling thread (for
        L{load} at start-up).
    """

    def __init__(self, transact: Transact, run_blocking: Callable[[Callable[[Any], Any]], Any]) -> None:
        self._transact = transact
        self._run_blocking = run_blocking

    def load(self, max_queued: int) -> tuple[list[Message], list[SessionState]]:
        """
        Read the retained messages and the sessions (blocking: call at start-up).
        """

        def read(txn: Any) -> tuple[list[Message], list[SessionState]]:
            root = _root(txn)
            retained = [Message.from_record(record) for record in root.retained.values()]
            sessions = [_session(stored, max_queued) for stored in root.sessions.values()]
            return retained, sessions

        return self._run_blocking(read)

    def load_session(self, client_id: str, max_queued: int) -> Deferred:
        """
        Read the stored session of C{client_id} as committed now; fires with its
        L{SessionState} (queue included), or C{None}.
        """

        def read(txn: Any) -> Any:
            stored = _root(txn).sessions.get(client_id)
            return None if stored is None else _session(stored, max_queued)

        return self._transact(read)

    def save_retained(self, message: Message) -> Deferred:
        """
        Store C{message} as its topic's retained message.
        """
        topic, record = message.topic, message.to_record()

        def write(txn: Any) -> None:
            _root(txn).retained[topic] = record

        return self._transact(write)

    def delete_retained(self, topic: str) -> Deferred:
        """
        Forget the retained message of C{topic}.
        """

        def write(txn: Any) -> None:
            _root(txn).retained.pop(topic, None)

        return self._transact(write)

    def save_session(self, state: SessionState) -> Deferred:
        """
        Store a snapshot of C{state}, queue included.
        """
        client_id, record = state.client_id, state.to_record()
        queue = [delivery.to_record() for delivery in state.queue]

        def write(txn: Any) -> None:
            sessions = _root(txn).sessions
            stored = sessions.get(client_id)
            if stored is None:
                stored = sessions[client_id] = StoredSession(record)
            stored.replace(record, queue)

        return self._transact(write)

    def append_queued(self, items: list[tuple[str, Delivery]]) -> Deferred:
        """
        Add deliveries to the queues of stored sessions (client identifier, delivery).
        """
        records = [(client_id, delivery.to_record()) for client_id, delivery in items]

        def write(txn: Any) -> None:
            sessions = _root(txn).sessions
            for client_id, record in records:
                stored = sessions.get(client_id)
                if stored is not None:
                    stored.append(record)

        return self._transact(write)

    def delete_session(self, client_id: str) -> Deferred:
        """
        Forget the session of C{client_id}.
        """

        def write(txn: Any) -> None:
            _root(txn).sessions.pop(client_id, None)

        return self._transact(write)

    def load_wills(self) -> dict[str, dict[str, Any]]:
        """
        The pending wills by client identifier (blocking: call at start-up).
        """
        return self._run_blocking(lambda txn: dict(_root(txn).wills or {}))

    def save_will(self, client_id: str, record: dict[str, Any]) -> Deferred:
        """
        Store the pending will of C{client_id}.
        """

        def write(txn: Any) -> None:
            root = _root(txn)
            if root.wills is None:
                root.wills = OOBTree()
            root.wills[client_id] = record

        return self._transact(write)

    def claim_will(self, client_id: str) -> Deferred:
        """
        Forget the pending will of C{client_id}; fires with whether it was still stored. Of
        the worker processes that restored the same will, the one whose claim commits first
        publishes it (the others' transactions conflict, run again and find it gone).
        """

        def write(txn: Any) -> bool:
            wills = _root(txn).wills
            return wills is not None and wills.pop(client_id, None) is not None

        return self._transact(write)


class MemoryStore:
    """
    A store that keeps nothing: retained messages, sessions and wills last as long as the
    process.
    """

    def load(self, max_queued: int) -> tuple[list[Message], list[SessionState]]:
        return [], []

    def save_retained(self, message: Message) -> Deferred:
        return succeed(None)

    def delete_retained(self, topic: str) -> Deferred:
        return succeed(None)

    def save_session(self, state: SessionState) -> Deferred:
        return succeed(None)

    def load_session(self, client_id: str, max_queued: int) -> Deferred:
        return succeed(None)

    def append_queued(self, items: list[tuple[str, Delivery]]) -> Deferred:
        return succeed(None)

    def delete_session(self, client_id: str) -> Deferred:
        return succeed(None)

    def load_wills(self) -> dict[str, dict[str, Any]]:
        return {}

    def save_will(self, client_id: str, record: dict[str, Any]) -> Deferred:
        return succeed(None)

    def claim_will(self, client_id: str) -> Deferred:
        return succeed(True)
