# -*- test-case-name: tests.mqtt.test_broker -*-
"""
The sessions of one broker (L{SessionTable}): the connected ones and those kept for clients
that are away, which connection holds each, when a kept session expires, and its durable copy
in the store, written in the order the broker started the writes of each client.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.mqtt.mapping import ResourceTopics
from harper.mqtt.message import Delivery
from harper.mqtt.ordering import OrderedWrites
from harper.mqtt.packets import ReasonCode
from harper.mqtt.session import SessionSettings
from harper.mqtt.shares import ShareOwners
from harper.mqtt.state import NEVER_EXPIRES, SessionState
from harper.mqtt.store import logged
from harper.mqtt.wills import Wills
from harper.pubsub.hub import Hub


class SessionTable:
    """
    The session states of one broker by client identifier.

    :param clock: for session expiry and disconnection times.
    :param store: the broker's durable store.
    :param settings: the limits of each session.
    :param hub: where the sessions' subscriptions are registered.
    :param shares: the broker's shared subscriptions.
    :param wills: the broker's pending wills (a session's will is due when it expires).
    :param resources: the resource topics, or C{None}.
    :ivar sessions: the sessions by client identifier.
    :ivar writes: the store writes in progress, per client.
    :ivar stopping: whether the broker is stopping (sessions are then stored by L{close}).
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, store: Any, settings: SessionSettings, hub: Hub,
                 shares: ShareOwners, wills: Wills, resources: Optional[ResourceTopics]) -> None:
        self.clock = clock
        self.store = store
        self.settings = settings
        self.hub = hub
        self.shares = shares
        self.wills = wills
        self.resources = resources
        self.sessions: dict[str, SessionState] = {}
        self.writes = OrderedWrites()
        self.stopping = False
        self._stored: set[str] = set()
        self._queued: list[tuple[str, Delivery]] = []
        self._expiries: dict[str, Any] = {}

    def close(self) -> Deferred:
        """
        Disconnect every client (without publishing wills) and store the persistent sessions;
        fires once they are stored.
        """
        self.stopping = True
        for client_id in list(self._expiries):
            self._cancel_expiry(client_id)
        for state in list(self.sessions.values()):
            if state.connection is not None:
                state.connection.will = None
                state.connection.disconnect(ReasonCode.SERVER_SHUTTING_DOWN,
                                            "the server is shutting down")
        saves = [self.store.save_session(state) for state in self.sessions.values()
                 if state.persistent]
        return gatherResults(saves, consumeErrors=True)

    # -- keeping sessions ------------------------------------------------------------------

    def adopt(self, state: SessionState) -> None:
        """
        Hold C{state} here, its queued QoS 1 and 2 messages stored while its client is away.
        """
        state.max_queued = self.settings.max_queued
        state.on_queued = self._queue_durably
        self.sessions[state.client_id] = state

    def _queue_durably(self, state: SessionState, delivery: Delivery) -> None:
        self._queued.append((state.client_id, delivery))

    def keep(self, state: SessionState) -> None:
        """
        Hold C{state}, a session as stored, with its subscriptions.
        """
        self.adopt(state)
        for topic_filter in state.subscriptions:
            self.hub.subscribe(topic_filter, self.shares.member(topic_filter, state))
        self._stored.add(state.client_id)

    def take_over(self, state: SessionState) -> None:
        """
        Close the connection that holds C{state}: another connection takes it (MQTT-3.1.4-3).
        """
        state.connection.disconnect(ReasonCode.SESSION_TAKEN_OVER,
                                    "another connection took over the session")

    def attach(self, session: Any, client_id: str, clean_start: bool,
               expiry: int) -> tuple[SessionState, bool]:
        """
        Give C{session} the session of C{client_id} (a new one for a clean start); returns the
        session state and whether it existed.
        """
        existing = self.sessions.get(client_id)
        if existing is not None and existing.connection is not None:
            self.take_over(existing)
            existing = self.sessions.get(client_id)
        self.wills.cancel(client_id)
        self._cancel_expiry(client_id)
        if existing is not None and clean_start:
            self.discard(existing)
            existing = None
        state = existing if existing is not None else SessionState(client_id)
        self.adopt(state)
        state.expiry_interval = expiry
        state.connection = session
        state.disconnected_at = None
        self.shares.changed()
        state.readable = self.resources.reader(session.user) if self.resources else state.readable
        if not state.persistent and client_id in self._stored:
            self.forget(client_id)
        return state, existing is not None

    # -- expiry ----------------------------------------------------------------------------

    def schedule_expiry(self, state: SessionState) -> None:
        """
        End C{state}, a session without a connection, once its expiry interval has passed.
        """
        if state.expiry_interval >= NEVER_EXPIRES or state.connection is not None:
            return
        elapsed = self.clock.seconds() - (state.disconnected_at or self.clock.seconds())
        delay = max(0.0, state.expiry_interval - elapsed)
        self._expiries[state.client_id] = self.clock.callLater(delay, self._expire, state)

    def _expire(self, state: SessionState) -> None:
        self._expiries.pop(state.client_id, None)
        self.wills.publish_now(state.client_id)
        if self.sessions.get(state.client_id) is state and state.connection is None:
            self._log.info("session of {client} expired", client=state.client_id)
            self.discard(state)

    def _cancel_expiry(self, client_id: str) -> None:
        call = self._expiries.pop(client_id, None)
        if call is not None and call.active():
            call.cancel()

    # -- ending sessions -------------------------------------------------------------------

    def discard(self, state: SessionState) -> None:
        """
        End C{state}, here and in the store.
        """
        stored = state.client_id in self._stored
        self.drop(state)
        if stored:
            self.forget(state.client_id)

    def unsubscribe(self, topic_filter: str, state: SessionState) -> None:
        """
        Take C{state}'s subscription to C{topic_filter} out of the hub (and close its custom
        resource subscription).
        """
        self.hub.unsubscribe(topic_filter, self.shares.member(topic_filter, state))
        self.shares.left(topic_filter, state)
        subscription = state.resource_subscriptions.pop(topic_filter, None)
        if subscription is not None:
            subscription.close()

    def drop(self, state: SessionState) -> None:
        """
        Forget C{state} here (not in the store).
        """
        for topic_filter in state.subscriptions:
            self.unsubscribe(topic_filter, state)
        if self.sessions.get(state.client_id) is state:
            del self.sessions[state.client_id]
        self._cancel_expiry(state.client_id)
        self._stored.discard(state.client_id)

    # -- the store -------------------------------------------------------------------------

    def forget(self, client_id: str) -> None:
        """
        Delete the stored session of C{client_id}.
        """
        self._stored.discard(client_id)
        d = self.writes.after((client_id,), lambda: self.store.delete_session(client_id))
        logged(d, "forgetting a session")

    def save(self, state: SessionState) -> Deferred:
        """
        Store C{state}; fires once it is stored.
        """
        self._stored.add(state.client_id)
        d = self.writes.after((state.client_id,), lambda: self.store.save_session(state))
        return logged(d, "storing a session")

    def store_queued(self) -> Optional[Deferred]:
        """
        Store the messages queued for absent clients since the last call; returns a Deferred
        that fires once they are stored, or C{None} when none were.
        """
        if not self._queued:
            return None
        queued, self._queued = self._queued, []
        return self.writes.after((client_id for client_id, _ in queued),
                                 lambda: self.store.append_queued(queued))
