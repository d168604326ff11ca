# -*- test-case-name: tests.workers.test_master -*-
"""
One worker process as the master sees it: how it is started (a C{twistd -n harper} with the
master's own options, the shared store and C{--worker}), its output relayed to the master's
log line by line, and its end.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from typing import Any, Callable, Mapping, Optional, Sequence

from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

from harper.workers.bus import adopt_channel
from harper.workers.worker import worker_option

#: Runs twistd in the worker (C{sys.argv[1:]} are twistd's arguments).
_TWISTD = "from twisted.scripts.twistd import run; run()"

#: The timestamp that starts a line of a worker's log (the master's log adds its own).
_TIMESTAMP = re.compile(rb"^\d{4}-\d\d-\d\dT[\d:]+[+-]\d{4} ")

#: The first file descriptor a worker inherits beyond its standard streams.
_FIRST_FD = 3


def harper_arguments(options: Mapping[str, Any], root_path: str) -> list[str]:
    """
    The C{twistd harper} options that the master itself was started with (config, root, apps,
    overrides), paths made absolute.
    """
    arguments = ["--root", os.path.abspath(root_path)]
    if options.get("config"):
        arguments += ["--config", os.path.abspath(options["config"])]
    for path in options.get("app", ()):
        arguments += ["--app", os.path.abspath(path)]
    for assignment in options.get("set", ()):
        arguments += ["--set", assignment]
    return arguments


class WorkerProcess(ProcessProtocol):
    """
    A running worker: relays its output to the log, reports its end.

    :param index: the worker's number, from 0.
    :param ended: called with this object and the exit reason when the process has ended.
    :ivar ready: whether the worker has said that it serves.
    :ivar pid: the process id once started.
    """

    _log = Logger()

    def __init__(self, index: int, ended: Callable[["WorkerProcess", Any], None]) -> None:
        self.index = index
        self.ready = False
        self.pid: Optional[int] = None
        self._ended = ended
        self._partial = {1: b"", 2: b""}

    def connectionMade(self) -> None:
        self.pid = self.transport.pid

    def childDataReceived(self, fd: int, data: bytes) -> None:
        *lines, self._partial[fd] = (self._partial.get(fd, b"") + data).split(b"\n")
        for line in lines:
            text = _TIMESTAMP.sub(b"", line).decode("utf-8", "replace")
            self._log.info("worker {index}: {line}", index=self.index, line=text)

    def processEnded(self, reason: Any) -> None:
        for fd, rest in self._partial.items():
            if rest:
                self.childDataReceived(fd, b"\n")
        self._ended(self, reason)


def spawn_worker(
    reactor: Any,
    worker: WorkerProcess,
    arguments: Sequence[str],
    sockets: Mapping[str, socket.socket],
    channel: Any,
) -> None:
    """
    Start C{worker}: C{twistd -n harper} with C{arguments}, inheriting the listening
    C{sockets} (by configuration key) and one end of a new socket pair whose other end runs
    C{channel} in this process.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        fds = {0: "w", 1: "r", 2: "r", _FIRST_FD: theirs.fileno()}
        inherited = {}
        for offset, (key, listening) in enumerate(sockets.items(), _FIRST_FD + 1):
            fds[offset] = listening.fileno()
            inherited[key] = (offset, int(listening.family))
        argv = [
            sys.executable, "-c", _TWISTD, "-n", "--pidfile=", "harper", *arguments,
            "--worker", worker_option(_FIRST_FD, inherited, worker.index),
        ]
        reactor.spawnProcess(worker, sys.executable, argv, env=dict(os.environ), childFDs=fds)
        adopt_channel(reactor, ours.fileno(), channel)
    finally:
        ours.close()
        theirs.close()


def store_override(uri: str) -> list[str]:
    """
    The C{--set} arguments that point a worker at the store C{uri}.
    """
    return ["--set", f"storage.uri={json.dumps(uri)}", "--set", "threads.count=1"]
