# -*- test-case-name: tests.mqtt.test_session,tests.mqtt.test_end_to_end -*-
"""
Last Will messages waiting to be published: at once, or after their Will Delay Interval
unless the client comes back first (MQTT-3.1.3-9), and at the latest when the session ends.

A delayed will is kept in the broker's durable store until it is published or cancelled, so
a daemon restart does not lose it: L{Wills.restore} schedules the stored ones again at the
time they were due. A stored will is published only by the broker that takes it out of the
store (every worker process restores the same wills; one publishes each).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.mqtt.message import FORWARDED, Message
from harper.mqtt.packets import Will
from harper.mqtt.properties import NO_PROPERTIES, Properties
from harper.mqtt.store import logged

#: C{find_user(username)}: fires with the user of that name, or C{None} when there is none.
FindUser = Callable[[str], Deferred]


def will_message(client_id: str, will: Will, now: float) -> Message:
    """
    The message a will becomes, with its forwarded properties.
    """
    properties = will.properties
    forwarded = {name: properties[name] for name in FORWARDED if name in properties}
    return Message(will.topic, will.payload, will.qos, will.retain,
                   Properties(**forwarded) if forwarded else NO_PROPERTIES, client_id, now,
                   properties.message_expiry_interval)


def will_record(will: Will, username: Optional[str], due: float) -> dict[str, Any]:
    """
    A pending will as plain values, for the durable store.

    :param username: the name of the user it is published as (C{None}: anonymous).
    :param due: clock seconds when it is published.
    """
    return {"topic": will.topic, "payload": will.payload, "qos": will.qos, "retain": will.retain,
            "properties": dict(will.properties), "user": username, "due": due}


def will_from_record(record: dict[str, Any]) -> Will:
    """
    The will stored by L{will_record}.
    """
    return Will(record["topic"], record["payload"], record["qos"], record["retain"],
                Properties.trusted(dict(record["properties"])))


class Wills:
    """
    The pending wills of a broker's clients.

    :param clock: the delay timers.
    :param publish: publishes a will: C{publish(client_id, message, user)}.
    :param store: keeps the delayed wills (L{harper.mqtt.store.BrokerStore} or a memory one).
    """

    _log = Logger()

    def __init__(self, clock: IReactorTime, publish: Callable[[str, Message, Any], None],
                 store: Any) -> None:
        self._clock = clock
        self._publish = publish
        self._store = store
        self._pending: dict[str, Any] = {}

    def schedule(self, client_id: str, will: Will, user: Any, session_expiry: int) -> None:
        """
        Publish C{will} after its delay, or when the session ends if that is sooner.
        """
        self.cancel(client_id)
        delay = min(will.properties.will_delay_interval or 0, session_expiry)
        if not delay:
            self._fire(client_id, will, user, stored=False)
            return
        self._pending[client_id] = self._clock.callLater(delay, self._fire, client_id, will, user)
        record = will_record(will, getattr(user, "username", None), self._clock.seconds() + delay)
        logged(self._store.save_will(client_id, record), "storing a will")

    def restore(self, records: dict[str, dict[str, Any]], find_user: Optional[FindUser]) -> None:
        """
        Schedule the wills read from the store at start-up, each at the time it was due (at
        once when that has passed), published as its user found again by name.
        """
        now = self._clock.seconds()
        for client_id, record in records.items():
            delay = max(0.0, record["due"] - now)
            self._pending[client_id] = self._clock.callLater(
                delay, self._fire_restored, client_id, will_from_record(record), record["user"],
                find_user)

    def _fire_restored(self, client_id: str, will: Will, username: Optional[str],
                       find_user: Optional[FindUser]) -> None:
        if username is None:
            self._fire(client_id, will, None)
            return
        self._pending.pop(client_id, None)
        d = find_user(username) if find_user is not None else succeed(None)

        def found(user: Any) -> None:
            if user is None or not getattr(user, "active", True):
                self._log.warn("dropping the will of {client}: its user {user} is gone",
                               client=client_id, user=username)
                logged(self._store.claim_will(client_id), "forgetting a will")
                return
            self._fire(client_id, will, user)

        logged(d.addCallback(found), "publishing a stored will")

    def _fire(self, client_id: str, will: Will, user: Any, stored: bool = True) -> None:
        self._pending.pop(client_id, None)
        if not stored:
            self._publish(client_id, will_message(client_id, will, self._clock.seconds()), user)
            return

        def claimed(ours: bool) -> None:
            if ours:
                self._publish(client_id, will_message(client_id, will, self._clock.seconds()),
                              user)

        logged(self._store.claim_will(client_id).addCallback(claimed), "publishing a will")

    def cancel(self, client_id: str) -> None:
        """
        Forget the will of C{client_id}: it reconnected in time.
        """
        call: Optional[Any] = self._pending.pop(client_id, None)
        if call is not None and call.active():
            call.cancel()
            logged(self._store.claim_will(client_id), "forgetting a will")

    def publish_now(self, client_id: str) -> None:
        """
        The session of C{client_id} ended: publish its pending will now.
        """
        call = self._pending.get(client_id)
        if call is not None and call.active():
            call.reset(0)

    def clear(self) -> None:
        """
        Stop the timers (the server is stopping); the stored wills stay for the next start.
        """
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
