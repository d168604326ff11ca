# -*- test-case-name: tests.mqtt.test_handover -*-
"""
A broker's link to the brokers of the other worker processes of a daemon (L{WorkerRelay}):
messages to plain topics go to them over the worker bus and theirs come back
(L{harper.mqtt.peers}), a client's session follows it from worker to worker
(L{harper.mqtt.handover}), and the shared subscriptions learn where their members are
(L{harper.mqtt.shares}). A broker that never joins the others has a relay that does nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed

from harper.mqtt.handover import GONE, OFFLINE, ONLINE, SessionHandover
from harper.mqtt.message import Message
from harper.mqtt.peers import PeerBrokers
from harper.mqtt.sessions import SessionTable
from harper.mqtt.state import SessionState
from harper.mqtt.store import logged


class WorkerRelay:
    """
    The cross-worker part of one broker.

    :param broker: the L{harper.mqtt.broker.Broker} (its clock, store, settings, retained
        messages, shared subscriptions and C{route}).
    :param table: the broker's sessions.
    """

    def __init__(self, broker: Any, table: SessionTable) -> None:
        self._broker = broker
        self._table = table
        self._peers: Optional[PeerBrokers] = None
        self._handover: Optional[SessionHandover] = None
        #: The worker that holds each client connected elsewhere, as last announced.
        self.holders: dict[str, str] = {}
        self._arriving: set[str] = set()

    @property
    def joined(self) -> bool:
        """
        Whether the broker exchanges messages and sessions with other workers.
        """
        return self._handover is not None

    def join(self, broadcasts: Any) -> Callable[[], None]:
        """
        Exchange the messages of plain topics with the brokers of the other worker processes,
        and hand sessions over with them.

        :param broadcasts: the worker's L{harper.workers.bus.Broadcasts}.
        :return: a function that stops the exchange.
        """
        broker = self._broker
        peers = self._peers = PeerBrokers(broadcasts, self._peer_published)
        handover = self._handover = SessionHandover(broadcasts, broker.clock, self._announced,
                                                    self._release)
        leave_shares = broker.shares.join(broadcasts, handover.worker)

        def leave() -> None:
            self._peers = None
            self._handover = None
            peers.close()
            handover.close()
            leave_shares()

        return leave

    # -- messages --------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        """
        Hand C{message}, routed here, to the other workers' brokers.
        """
        if self._peers is not None:
            self._peers.send(message)

    def _peer_published(self, message: Message) -> None:
        broker = self._broker
        if message.retain:
            broker.retained.remember(message)
        d = broker.route(message)
        if d is not None:
            logged(d, "queuing a message from another worker")

    # -- sessions --------------------------------------------------------------------------

    async def open_session(self, session: Any, client_id: str, clean_start: bool,
                           expiry: int) -> tuple[SessionState, bool]:
        """
        L{harper.mqtt.broker.Broker.open_session} with other workers: the connection another
        worker holds is taken over first, and a resumed session is read from the store as
        committed now.
        """
        table = self._table
        existing = table.sessions.get(client_id)
        if existing is not None and existing.connection is not None:
            table.take_over(existing)
        holder = self.holders.get(client_id)
        if holder is not None and self._handover is not None:
            await self._handover.take_over(client_id, holder)
        dormant = table.sessions.get(client_id)
        if dormant is not None and dormant.connection is None:
            # From here on, what reaches the session waits in memory, next to the stored queue.
            dormant.on_queued = None
            dormant.queue.clear()
        self._arriving.add(client_id)
        try:
            await table.writes.written(client_id)
            if clean_start:
                table.forget(client_id)
            else:
                stored = await table.store.load_session(client_id, table.settings.max_queued)
                if stored is not None:
                    self._resume_stored(stored)
        finally:
            self._arriving.discard(client_id)
        opened = table.attach(session, client_id, clean_start, expiry)
        if self._handover is not None:
            self._handover.announce(ONLINE, client_id)
        return opened

    def _resume_stored(self, stored: SessionState) -> None:
        table = self._table
        current = table.sessions.get(stored.client_id)
        if current is not None and current.connection is not None:
            return
        if current is not None:
            table.drop(current)
            queued = {d.message.key for d in stored.queue if d.message.key is not None}
            for delivery in current.queue:
                if delivery.message.key is None or delivery.message.key not in queued:
                    stored.keep(delivery)
        table.keep(stored)

    def announce(self, event: str, client_id: str, state: Optional[SessionState] = None) -> None:
        """
        Tell the other workers that the session of C{client_id} went offline (stored as
        C{state}) or is gone.
        """
        if self._handover is not None:
            record = state.to_record() if state is not None else None
            self._handover.announce(event, client_id, record)

    def stored_offline(self, _: Any, state: SessionState) -> None:
        """
        The session C{state} was stored after its connection ended: announce it, unless a
        connection took it since.
        """
        if state.connection is None and self._table.sessions.get(state.client_id) is state:
            self.announce(OFFLINE, state.client_id, state)

    def _announced(self, event: str, client_id: str, worker: str, record: Optional[dict]) -> None:
        """
        Another worker's announcement about C{client_id} (see L{harper.mqtt.handover}).
        """
        table = self._table
        current = table.sessions.get(client_id)
        idle = current is not None and current.connection is None
        if event == ONLINE:
            self.holders[client_id] = worker
            if idle:
                table.drop(current)
            return
        if self.holders.get(client_id, worker) != worker or client_id in self._arriving:
            return  # an older announcement: another worker, or this one, holds the client now
        self.holders.pop(client_id, None)
        if idle:
            table.drop(current)
        if event == OFFLINE and record is not None and (current is None or idle):
            state = SessionState.from_record(record, [], table.settings.max_queued)
            table.keep(state)
            table.schedule_expiry(state)

    def _release(self, client_id: str) -> Deferred:
        """
        Another worker takes C{client_id} over: close its connection here (which stores the
        session and announces it), or announce what is stored.
        """
        table = self._table
        state = table.sessions.get(client_id)
        if state is not None and state.connection is not None:
            table.take_over(state)
            return succeed(None)
        d = table.writes.written(client_id)
        if state is None:
            return d.addCallback(lambda _: self.announce(GONE, client_id))
        return d.addCallback(lambda _: self.announce(OFFLINE, client_id, state))
