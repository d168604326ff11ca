# -*- test-case-name: tests.mqtt.test_session -*-
"""
Last Will messages waiting to be published: at once, or after their Will Delay Interval
unless the client comes back first (MQTT-3.1.3-9), and at the latest when the session ends.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.interfaces import IReactorTime

from harper.mqtt.message import FORWARDED, Message
from harper.mqtt.packets import Will
from harper.mqtt.properties import NO_PROPERTIES, Properties


def will_message(client_id: str, will: Will, now: float) -> Message:
    """
    The message a will becomes, with its forwarded properties.
    """
    properties = will.properties
    forwarded = {name: properties[name] for name in FORWARDED if name in properties}
    return Message(will.topic, will.payload, will.qos, will.retain,
                   Properties(**forwarded) if forwarded else NO_PROPERTIES, client_id, now,
                   properties.message_expiry_interval)


class Wills:
    """
    The pending wills of a broker's clients.

    :param clock: the delay timers.
    :param publish: publishes a will: C{publish(client_id, message, user)}.
    """

    def __init__(self, clock: IReactorTime, publish: Callable[[str, Message, Any], None]) -> None:
        self._clock = clock
        self._publish = publish
        self._pending: dict[str, Any] = {}

    def schedule(self, client_id: str, will: Will, user: Any, session_expiry: int) -> None:
        """
        Publish C{will} after its delay, or when the session ends if that is sooner.
        """
        self.cancel(client_id)
        delay = min(will.properties.will_delay_interval or 0, session_expiry)
        if delay:
            self._pending[client_id] = self._clock.callLater(delay, self._fire, client_id, will, user)
        else:
            self._fire(client_id, will, user)

    def _fire(self, client_id: str, will: Will, user: Any) -> None:
        self._pending.pop(client_id, None)
        self._publish(client_id, will_message(client_id, will, self._clock.seconds()), user)

    def cancel(self, client_id: str) -> None:
        """
        Forget the will of C{client_id}: it reconnected in time.
        """
        call: Optional[Any] = self._pending.pop(client_id, None)
        if call is not None and call.active():
            call.cancel()

    def publish_now(self, client_id: str) -> None:
        """
        The session of C{client_id} ended: publish its pending will now.
        """
        call = self._pending.get(client_id)
        if call is not None and call.active():
            call.reset(0)

    def clear(self) -> None:
        """
        Drop every pending will (the server is stopping).
        """
        for client_id in list(self._pending):
            self.cancel(client_id)
