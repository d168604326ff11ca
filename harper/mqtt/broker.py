# -*- test-case-name: tests.mqtt.test_broker -*-
"""
The broker: routes messages between sessions through the pubsub hub, authenticates clients,
publishes wills, and hands topics that name resources to
L{harper.mqtt.mapping.ResourceTopics}. The sessions it keeps are in
L{harper.mqtt.sessions.SessionTable}, the retained messages in
L{harper.mqtt.retained.RetainedMessages}.

Non-retained messages to plain topics never open a transaction, except to queue a QoS 1 or 2
message for a persistent session whose client is away; retained messages, resource writes and
persistent session changes are acknowledged only once committed.

In a daemon with worker processes, each worker runs a broker; messages to plain topics go to
the other workers' brokers over the bus (L{harper.mqtt.relay.WorkerRelay}), which deliver them
to their clients (and keep the retained ones in memory: the publishing worker stored them).
Resource changes need nothing more: they reach every worker's change feed. Persistent sessions
follow their clients from worker to worker (L{harper.mqtt.handover}): a client that resumes its
session gets it as stored, read at its CONNECT by the worker that accepted it.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any, Callable, Optional

import attr
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.errors import InvalidInput
from harper.mqtt.handover import GONE
from harper.mqtt.inbound import ProtocolViolation
from harper.mqtt.mapping import ResourceTopics
from harper.mqtt.message import Delivery, Message
from harper.mqtt.packets import ReasonCode, RetainHandling, Will
from harper.mqtt.reasons import SUCCESS, Outcome, outcome_for
from harper.mqtt.relay import WorkerRelay
from harper.mqtt.retained import RetainedMessages
from harper.mqtt.session import SessionSettings
from harper.mqtt.sessions import SessionTable
from harper.mqtt.shares import ShareOwners
from harper.mqtt.state import SessionState, Subscription
from harper.mqtt.store import MemoryStore, logged
from harper.mqtt.wills import FindUser, Wills
from harper.pubsub.hub import Hub
from harper.pubsub.topics import parse_shared_subscription, validate_filter

#: C{authenticate(username, password, client_address)}: fires with the user, or C{None} to
#: refuse the credentials.
Authenticate = Callable[[str, bytes, str], Deferred]


@attr.frozen
class Verdict(Outcome):
    """
    The outcome of authentication: a failure code, or the user (C{None} when anonymous).
    """

    user: Any = None


class Broker:
    """
    Everything the MQTT sessions of one daemon share.

    :param clock: timers (will delay, session expiry) and message timestamps.
    :param store: the durable store (L{harper.mqtt.store.BrokerStore}); nothing survives a
        restart with the default L{MemoryStore}.
    :param resources: the resource topics, or C{None} for a broker of plain topics only.
    :param authenticate: checks CONNECT credentials; without it every login is refused.
    :param require_authentication: refuse clients that send no user name (Harper's
        C{mqtt.requireAuthentication}).
    :param settings: the limits of each session.
    :param find_user: finds a user by name, for the wills stored before a restart.
    :ivar table: the sessions.
    :ivar relay: the link to the other workers' brokers.
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, store: Any = None,
                 resources: Optional[ResourceTopics] = None,
                 authenticate: Optional[Authenticate] = None,
                 require_authentication: bool = True,
                 settings: SessionSettings = SessionSettings(),
                 find_user: Optional[FindUser] = None) -> None:
        self.clock = clock
        self.store = store if store is not None else MemoryStore()
        self.resources = resources
        self.settings = settings
        self.hub = Hub()
        self.retained = RetainedMessages(self.store)
        self._authenticate = authenticate
        self._require_authentication = require_authentication
        self._find_user = find_user
        self.wills = Wills(clock, self._publish_will, self.store)
        self.shares = ShareOwners(clock)
        self.table = SessionTable(clock, self.store, settings, self.hub, self.shares, self.wills,
                                  resources)
        self.relay = WorkerRelay(self, self.table)
        # Message keys: unique across workers and restarts, and cheaper than a UUID each.
        self._key_prefix = f"{uuid.uuid4().hex}:"
        self._key_numbers = itertools.count()

    @property
    def sessions(self) -> dict[str, SessionState]:
        """
        The sessions by client identifier (see L{SessionTable.sessions}).
        """
        return self.table.sessions

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """
        Restore the retained messages, persistent sessions and pending wills from the store
        (blocking).
        """
        retained, sessions = self.store.load(self.settings.max_queued)
        self.retained.load(retained)
        for state in sessions:
            self.table.keep(state)
            self.table.schedule_expiry(state)
        wills = self.store.load_wills()
        self.wills.restore(wills, self._find_user)
        self._log.info("MQTT broker restored {retained} retained messages, {sessions} sessions "
                       "and {wills} pending wills", retained=len(retained), sessions=len(sessions),
                       wills=len(wills))

    def stop(self) -> Deferred:
        """
        Disconnect every client (without publishing wills) and store the persistent sessions;
        fires once they are stored.
        """
        self.wills.clear()
        return self.table.close()

    def join(self, broadcasts: Any) -> Callable[[], None]:
        """
        Exchange messages and sessions with the brokers of the other worker processes (see
        L{WorkerRelay.join}); returns a function that stops.
        """
        return self.relay.join(broadcasts)

    # -- connecting ------------------------------------------------------------------------

    def assign_client_id(self) -> str:
        """
        A new unique client identifier, for a client that sent none (MQTT-3.1.3-6).
        """
        return f"harper-{uuid.uuid4().hex}"

    def authenticate(self, username: Optional[str], password: Optional[bytes], address: str,
                     certificate_user: Optional[str] = None) -> Deferred:
        """
        Check CONNECT credentials; fires with a L{Verdict}.

        :param certificate_user: the user named by the client's verified TLS certificate
            (mutual TLS), who is logged in when the CONNECT carries no credentials.
        """
        if username is None and password is None and certificate_user is not None:
            return self._certified(certificate_user)
        if username is None and password is None:
            if self._require_authentication:
                return succeed(Verdict(ReasonCode.NOT_AUTHORIZED, "a user name and password are required"))
            return succeed(Verdict())
        refused = Verdict(ReasonCode.BAD_USER_NAME_OR_PASSWORD, "wrong user name or password")
        if self._authenticate is None:
            return succeed(refused)
        d = self._authenticate(username or "", password or b"", address)
        return d.addCallback(lambda user: refused if user is None else Verdict(user=user))

    def _certified(self, username: str) -> Deferred:
        refused = Verdict(ReasonCode.NOT_AUTHORIZED,
                          f"the client certificate names {username!r}, who is not an active user")
        if self._find_user is None:
            return succeed(refused)
        d = self._find_user(username)
        return d.addCallback(
            lambda user: Verdict(user=user) if user is not None and user.active else refused
        )

    def open_session(self, session: Any, client_id: str, clean_start: bool,
                     expiry: int) -> Deferred:
        """
        Attach a connected client to its session: take it over from another connection
        (MQTT-3.1.4-3), start a new one or resume the stored one; fires with the session
        state and whether it existed (Session Present).

        With other workers, the connection another worker holds is taken over first, and a
        resumed session is read from the store as committed now.
        """
        if not self.relay.joined:
            return succeed(self.table.attach(session, client_id, clean_start, expiry))
        return Deferred.fromCoroutine(self.relay.open_session(session, client_id, clean_start,
                                                              expiry))

    def session_ended(self, session: Any, will: Optional[Will]) -> None:
        """
        A connection ended: schedule its will, and end or keep its session.
        """
        state = session.state
        expiry = state.expiry_interval if state is not None else 0
        if will is not None:
            self.wills.schedule(session.client_id, will, session.user, expiry)
        if state is None or state.connection is not session:
            return
        state.connection = None
        state.disconnected_at = self.clock.seconds()
        self.shares.changed()
        if not state.persistent:
            self.table.discard(state)
            self.relay.announce(GONE, state.client_id)
            return
        if not self.table.stopping:
            self.table.schedule_expiry(state)
            self.table.save(state).addCallback(self.relay.stored_offline, state)

    def _publish_will(self, client_id: str, message: Message, user: Any) -> None:
        self._log.info("publishing the will of {client} on {topic}", client=client_id, topic=message.topic)
        outcome = self.publish_as(user, message, None)
        if isinstance(outcome, Deferred):
            logged(outcome, "publishing a will")

    # -- publishing ------------------------------------------------------------------------

    def publish(self, session: Any, message: Message) -> Any:
        """
        Route a message a client published; returns an L{Outcome}, or a Deferred firing with
        one once the message is stored.
        """
        return self.publish_as(session.user, message, session.content_type)

    def publish_as(self, user: Any, message: Message, content_type: Optional[str]) -> Any:
        """
        Route C{message} with the permissions of C{user}.
        """
        if self.resources is not None:
            try:
                found = self.resources.resolve(message.topic)
            except InvalidInput as error:
                return Outcome(ReasonCode.TOPIC_NAME_INVALID, error.message)
            if found is not None:
                return self.resources.publish(user, found, message, content_type)
        if message.key is None:
            message.key = f"{self._key_prefix}{next(self._key_numbers)}"
        if message.retain:
            d = self.retained.retain(message).addCallback(self._route_everywhere, message)
            return d.addCallbacks(lambda _: SUCCESS, lambda failure: outcome_for(failure.value))
        d = self._route_everywhere(None, message)
        return SUCCESS if d is None else d.addCallbacks(lambda _: SUCCESS, lambda f: outcome_for(f.value))

    def _route_everywhere(self, _: Any, message: Message) -> Optional[Deferred]:
        self.relay.send(message)
        return self.route(message)

    def route(self, message: Message) -> Optional[Deferred]:
        """
        Deliver C{message} to its subscribers; when some were queued for absent clients,
        return a Deferred that fires once they are stored.
        """
        self.hub.publish(message.topic, message)
        return self.table.store_queued()

    def change_committed(self, event: Any) -> None:
        """
        A change feed listener: deliver a committed resource change to its topic.
        """
        if self.resources is None:
            return
        message = self.resources.message_for(event, self.clock.seconds())
        if message is not None:
            d = self.route(message)
            if d is not None:
                logged(d, "queuing a resource change")

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, session: Any, subscriptions: list[Subscription]) -> Deferred:
        """
        Add subscriptions; fires with the SUBACK reason codes and the accepted subscriptions
        with whether each is new.
        """
        state: SessionState = session.state
        codes, accepted = [], []
        for subscription in subscriptions:
            code = self._refusal(session, subscription)
            if code is not None:
                codes.append(code)
                continue
            topic_filter = subscription.topic_filter
            new = topic_filter not in state.subscriptions
            state.subscriptions[topic_filter] = subscription
            self.hub.subscribe(topic_filter, self.shares.member(topic_filter, state))
            if new:
                self._subscribe_custom(session, state, topic_filter)
            codes.append(subscription.options.qos)
            accepted.append((subscription, new))
        d = self.table.save(state) if accepted and state.persistent else succeed(None)
        return d.addCallback(lambda _: (codes, accepted))

    def _subscribe_custom(self, session: Any, state: SessionState, topic_filter: str) -> None:
        if self.resources is None or parse_shared_subscription(topic_filter):
            return
        clock = self.clock

        def deliver(message: Message) -> None:
            message.created = clock.seconds()
            state.deliver(message, (topic_filter,))

        subscription = self.resources.subscribe_custom(session.user, topic_filter, deliver)
        if subscription is not None:
            state.resource_subscriptions[topic_filter] = subscription

    def _refusal(self, session: Any, subscription: Subscription) -> Optional[int]:
        topic_filter = subscription.topic_filter
        try:
            validate_filter(topic_filter)
            shared = parse_shared_subscription(topic_filter)
        except ValueError:
            return ReasonCode.TOPIC_FILTER_INVALID
        if shared is not None and subscription.options.no_local:
            raise ProtocolViolation(ReasonCode.PROTOCOL_ERROR,
                                    "No Local on a shared subscription (MQTT-3.8.3-4)")
        plain = shared[1] if shared else topic_filter
        if self.resources is not None and not self.resources.may_subscribe(session.user, plain):
            return ReasonCode.NOT_AUTHORIZED
        subscriptions, limit = session.state.subscriptions, self.settings.max_subscriptions
        if limit and len(subscriptions) >= limit and topic_filter not in subscriptions:
            return ReasonCode.QUOTA_EXCEEDED
        return None

    def send_retained(self, session: Any, accepted: list[tuple[Subscription, bool]]) -> None:
        """
        Send the retained messages (and current records) of new subscriptions, as their
        Retain Handling option asks (MQTT-3.3.1-9 to MQTT-3.3.1-11); shared subscriptions get
        none (MQTT 5 section 4.8.2).
        """
        now = self.clock.seconds()
        for subscription, new in accepted:
            handling = subscription.options.retain_handling
            topic_filter = subscription.topic_filter
            if handling == RetainHandling.DO_NOT_SEND or parse_shared_subscription(topic_filter):
                continue
            if handling == RetainHandling.SEND_IF_NEW_SUBSCRIPTION and not new:
                continue
            for message in self.retained.matching(topic_filter, now):
                self._send_retained(session, subscription, message)
            if self.resources is not None:
                d = self.resources.current(session.user, topic_filter, now)
                d.addCallback(self._send_all_retained, session, subscription)
                logged(d, "reading current records")

    def _send_all_retained(self, messages: list[Message], session: Any, subscription: Subscription) -> None:
        for message in messages:
            self._send_retained(session, subscription, message)

    def _send_retained(self, session: Any, subscription: Subscription, message: Message) -> None:
        state = session.state
        if state is None or state.connection is not session:
            return
        identifiers = (subscription.identifier,) if subscription.identifier else ()
        state.enqueue(Delivery(message, min(message.qos, subscription.options.qos), True, identifiers))

    def unsubscribe(self, session: Any, topic_filters: tuple[str, ...]) -> Deferred:
        """
        Remove subscriptions; fires with the UNSUBACK reason codes.
        """
        state: SessionState = session.state
        codes = []
        for topic_filter in topic_filters:
            if state.subscriptions.pop(topic_filter, None) is not None:
                self.table.unsubscribe(topic_filter, state)
                codes.append(ReasonCode.SUCCESS)
            else:
                codes.append(ReasonCode.NO_SUBSCRIPTION_EXISTED)
        d = self.table.save(state) if state.persistent else succeed(None)
        return d.addCallback(lambda _: codes)
