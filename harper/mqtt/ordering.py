# -*- test-case-name: tests.mqtt.test_handover -*-
"""
Store writes of one client in the order the broker started them: a queued message must not
land before the session snapshot written before it (the snapshot replaces the queue), and a
worker taking a session over must see the writes another part of the broker started.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twisted.internet.defer import Deferred, gatherResults, succeed


class OrderedWrites:
    """
    The store writes in progress, by client identifier.
    """

    def __init__(self) -> None:
        self._last: dict[str, Deferred] = {}

    def after(self, client_ids: Iterable[str], write: Callable[[], Deferred]) -> Deferred:
        """
        Start C{write} once the writes started before for C{client_ids} are done; fires
        with its result.
        """
        ids = set(client_ids)
        earlier = [self._last[client_id] for client_id in ids if client_id in self._last]
        marker: Deferred = Deferred()
        for client_id in ids:
            self._last[client_id] = marker

        def finished(result: Any) -> Any:
            for client_id in ids:
                if self._last.get(client_id) is marker:
                    del self._last[client_id]
            marker.callback(None)
            return result

        d = gatherResults(earlier).addCallback(lambda _: write()) if earlier else write()
        return d.addBoth(finished)

    def written(self, client_id: str) -> Deferred:
        """
        Fires once the writes started for C{client_id} are done.
        """
        pending = self._last.get(client_id)
        if pending is None:
            return succeed(None)
        d: Deferred = Deferred()
        pending.addCallback(lambda result: (d.callback(None), result)[1])
        return d
