# -*- test-case-name: tests.mqtt.test_end_to_end -*-
"""
Which client caused a committed resource change: a retained PUBLISH to C{Dog/1} becomes a
C{put}, and the change that comes back from the change feed must not reach the publisher when
its subscription has the No Local option (MQTT-3.8.3-3), as for any other message it sent.

The events a write records are tagged in its transaction, before the commit; the change feed
hands them to the broker before the write's Deferred fires, which is when the tags go.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from harper.database.events import ChangeEvent


class Echoes:
    """
    The change events of resource writes made by MQTT clients that are still on their way to
    the subscribers, with the client identifier and topic of each.
    """

    def __init__(self) -> None:
        self._origins: dict[int, tuple[ChangeEvent, str, str]] = {}

    def tracking(self, context: Any, sender: str,
                 topic: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        """
        Tag the changes of one write by C{sender} to C{topic}.

        :param context: the write's L{harper.resources.context.RequestContext}.
        :return: C{inside}, to call with the resource method's result inside the transaction
            (L{harper.resources.calls.ResourceCaller.call}), and C{done}, to add to the write's
            Deferred (it passes the result through).
        """
        tagged: list[int] = []
        origins = self._origins

        def inside(result: Any) -> Any:
            for event in context.transaction.changes:
                origins[id(event)] = (event, sender, topic)
                tagged.append(id(event))
            return result

        def done(result: Any) -> Any:
            for key in tagged:
                origins.pop(key, None)
            return result

        return inside, done

    def sender(self, event: ChangeEvent, topic: str) -> Optional[str]:
        """
        The client identifier of the client whose publish to C{topic} made C{event}, or
        C{None}.
        """
        origin = self._origins.get(id(event))
        if origin is None or origin[0] is not event or origin[2] != topic:
            return None
        return origin[1]
