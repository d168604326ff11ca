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
from harper.workers.calls import WorkerCalls


def worker_option(bus: int, sockets: Mapping[str, tuple[int, int]], index: int = 0) -> str:
    """
    The value of C{--worker} for worker number C{index} whose bus is file descriptor C{bus}
    and that inherits C{sockets}: configuration key to C{(file descriptor, address family)}.
    """
    return json.dumps({
        "bus": bus, "index": index, "sockets": {key: list(value) for key, value in sockets.items()},
    })


def parse_worker_option(text: str) -> tuple[int, dict[str, tuple[int, int]], int]:
    """
    The bus descriptor, the sockets and the worker's number of a C{--worker} value made by
    L{worker_option}.

    :raises ConfigError: when C{text} is not such a value.
    """
    try:
        value = json.loads(text)
        bus, index = value["bus"], value["index"]
        sockets = {str(key): (int(fd), int(family)) for key, (fd, family) in value["sockets"].items()}
        if not isinstance(bus, int) or not isinstance(index, int):
            raise TypeError("bus")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ConfigError([f"--worker is internal to harper's master process; got {text!r}"]) from None
    return bus, sockets, index


#: The number of the worker that runs what only one process may run: replication's peer
#: links, listener and upkeep, and the admin console.
PRIMARY = 0


class WorkerLink(service.Service):
    """
    What makes a harper process a worker: the inherited listening sockets and the bus.

    :param bus: the file descriptor of this worker's end of the bus.
    :param sockets: the inherited listening sockets: configuration key (C{"http.port"}) to
        C{(file descriptor, address family)}.
    :param feed: this process's change feed.
    :param reactor: the reactor.
    :param index: this worker's number, from 0; worker 0 alone replicates and runs the admin
        console (L{PRIMARY}).
    :ivar index: this worker's number.
    :ivar broadcasts: what this worker sends to the other workers besides change events (the
        MQTT broker's messages of plain topics).
    :ivar calls: calls to functions other workers serve (L{harper.workers.calls}).
    """

    _log = Logger()

    def __init__(
        self, bus: int, sockets: Mapping[str, tuple[int, int]], feed: ChangeFeed, reactor: Any,
        index: int = 0,
    ) -> None:
        self.sockets = dict(sockets)
        self.index = index
        self._bus = bus
        self._feed = feed
        self._reactor = reactor
        self.broadcasts = Broadcasts()
        self.calls = WorkerCalls(self.broadcasts, index, reactor)

    @property
    def primary(self) -> bool:
        """
        Whether this worker is the one that replicates (and runs the admin console).
        """
        return self.index == PRIMARY

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
