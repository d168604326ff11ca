# -*- test-case-name: tests.workers.test_worker -*-
"""
The worker side: a worker process is an ordinary C{twistd harper} started by the master with
the internal option C{--worker}, which names the file descriptors it inherited (the listening
sockets by configuration key, and its end of the bus). L{WorkerLink} serves on those sockets
instead of binding the ports, and joins the bus; the worker stops when the master is gone.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from twisted.application import service
from twisted.logger import Logger

from harper.database.events import ChangeFeed
from harper.errors import ConfigError
from harper.workers.bus import Broadcasts, WorkerChannel, adopt_channel


def worker_option(bus: int, sockets: Mapping[str, tuple[int, int]]) -> str:
    """
    The value of C{--worker} for a worker whose bus is file descriptor C{bus} and that inherits
    C{sockets}: configuration key to C{(file descriptor, address family)}.
    """
    return json.dumps({"bus": bus, "sockets": {key: list(value) for key, value in sockets.items()}})


def parse_worker_option(text: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """
    The bus descriptor and the sockets of a C{--worker} value made by L{worker_option}.

    :raises ConfigError: when C{text} is not such a value.
    """
    try:
        value = json.loads(text)
        bus = value["bus"]
        sockets = {str(key): (int(fd), int(family)) for key, (fd, family) in value["sockets"].items()}
        if not isinstance(bus, int):
            raise TypeError("bus")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ConfigError([f"--worker is internal to harper's master process; got {text!r}"]) from None
    return bus, sockets


class WorkerLink(service.Service):
    """
    What makes a harper process a worker: the inherited listening sockets and the bus.

    :param bus: the file descriptor of this worker's end of the bus.
    :param sockets: the inherited listening sockets: configuration key (C{"http.port"}) to
        C{(file descriptor, address family)}.
    :param feed: this process's change feed.
    :param reactor: the reactor.
    :ivar broadcasts: what this worker sends to the other workers besides change events (the
        MQTT broker's messages of plain topics).
    """

    _log = Logger()

    def __init__(
        self, bus: int, sockets: Mapping[str, tuple[int, int]], feed: ChangeFeed, reactor: Any
    ) -> None:
        self.sockets = dict(sockets)
        self._bus = bus
        self._feed = feed
        self._reactor = reactor
        self.broadcasts = Broadcasts()

    def adopt(self, key: str, factory: Any) -> Any:
        """
        Serve C{factory} on the inherited listening socket of C{key}; return the port.
        """
        fd, family = self.sockets[key]
        port = self._reactor.adoptStreamPort(fd, family, factory)
        os.close(fd)
        return port

    def startService(self) -> None:
        super().startService()
        channel = WorkerChannel(self._feed, self._master_lost, self.broadcasts)
        adopt_channel(self._reactor, self._bus, channel)
        os.close(self._bus)

    def _master_lost(self) -> None:
        if self.running:
            self._log.warn("the master process is gone; this worker stops")
            self._reactor.stop()
