# -*- test-case-name: tests.mqtt.test_handover -*-
"""
The sessions of a client that connects through one worker process after another: the brokers
of a daemon's workers tell each other over the worker bus (L{harper.workers.bus.Broadcasts})
where each client is connected, and hand its session over when it comes back elsewhere.

The announcements, each a broadcast of kind L{KIND}:

  - C{online}: a worker attached a connection of the client; the others stop keeping its
    session (the holder delivers to it and stores it).
  - C{offline}: the holder stored the session the connection left (its record rides along);
    the others keep it again, to queue what it is sent while the client is away.
  - C{gone}: the session ended; the others forget it.
  - C{takeover}: a worker asks the holder to close the client's connection (MQTT-3.1.4-3) and
    to store its session; the holder answers with C{offline}.

See C{docs/mqtt.md}, "Worker processes", for why no message is lost or queued twice.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.mqtt.store import logged

#: The kind of the broadcasts that carry the announcements.
KIND = "mqtt.session"

ONLINE, OFFLINE, GONE, TAKEOVER = "online", "offline", "gone", "takeover"


class SessionHandover:
    """
    One broker's side of the announcements.

    :param broadcasts: the worker's broadcasts (C{send(kind, body)}, C{listen(kind, receiver)}).
    :param clock: for the time a takeover waits.
    :param received: called with C{(event, client_id, worker, record)} for each announcement of
        another worker but C{takeover}.
    :param release: called with a client identifier when another worker takes it over: closes
        its connection here, stores its session and announces C{offline} (or C{gone}); returns
        a Deferred.
    :param timeout: seconds a takeover waits for the holder's answer (a holder that died
        never answers).
    :ivar worker: the name of this worker in the announcements.
    """

    _log = Logger()

    def __init__(self, broadcasts: Any, clock: IReactorTime,
                 received: Callable[[str, str, str, Optional[dict]], None],
                 release: Callable[[str], Deferred], timeout: float = 5.0) -> None:
        self.worker = uuid.uuid4().hex
        self._broadcasts = broadcasts
        self._clock = clock
        self._received = received
        self._release = release
        self._timeout = timeout
        self._waiting: dict[str, list[Deferred]] = {}
        self._stop = broadcasts.listen(KIND, self._announced)

    def announce(self, event: str, client_id: str, record: Optional[dict] = None,
                 to: Optional[str] = None) -> None:
        """
        Tell the other workers C{event} about C{client_id}.

        :param to: for C{takeover}, the worker asked.
        """
        body = {"event": event, "client": client_id, "worker": to or self.worker, "record": record}
        try:
            self._broadcasts.send(KIND, body)
        except ValueError:
            self._log.failure("cannot announce {event} of {client}", event=event, client=client_id)

    def take_over(self, client_id: str, holder: str) -> Deferred:
        """
        Ask worker C{holder} to give up C{client_id}; fires with the stored record it
        answers with (C{None} for a session that ended), or with C{None} after the timeout.
        """
        d: Deferred = Deferred()
        self._waiting.setdefault(client_id, []).append(d)

        def late() -> None:
            waiting = self._waiting.get(client_id, [])
            if d in waiting:
                waiting.remove(d)
                if not waiting:
                    del self._waiting[client_id]
                self._log.warn("worker {holder} did not give up {client} within {timeout} s",
                               holder=holder, client=client_id, timeout=self._timeout)
                d.callback(None)

        call = self._clock.callLater(self._timeout, late)
        d.addBoth(lambda result: (call.active() and call.cancel(), result)[1])
        self.announce(TAKEOVER, client_id, to=holder)
        return d

    def _announced(self, body: Any) -> None:
        event, client_id, worker, record = (body["event"], body["client"], body["worker"],
                                            body.get("record"))
        if event == TAKEOVER:
            if worker == self.worker:
                logged(self._release(client_id), "giving up a session")
            return
        if event in (OFFLINE, GONE):
            for d in self._waiting.pop(client_id, []):
                d.callback(record)
        self._received(event, client_id, worker, record)

    def close(self) -> None:
        """
        Stop receiving announcements.
        """
        self._stop()
