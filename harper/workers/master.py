# -*- test-case-name: tests.workers.test_master -*-
"""
The master process of a multi-process daemon (C{threads.count} above 1): it binds the listening
ports, one socket per worker and port so that the kernel spreads the connections (the TLS ones
too: each worker serves its sockets behind TLS), makes the store shareable (a
ZEO server for a C{file:} or C{zeo:} store), starts the workers (the first alone, so that it
creates and migrates the tables; the others once it serves), relays their change events,
restarts any that dies, and stops them all on shutdown.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, Callable, Optional, Sequence, TextIO
from urllib.parse import quote

from twisted.application import service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger

from harper.components.config_storage import uri_scheme
from harper.database.storage import default_file_path
from harper.database.zeo import LOCAL_LOG, LOCAL_SOCKET, ZEOServerProcess
from harper.errors import StartupError
from harper.service.refusal import refuse_to_start
from harper.service.runfile import remove_run_file, write_run_file
from harper.service.tls import SECURE_LISTENERS
from harper.workers.bus import EventRelay
from harper.workers.process import WorkerProcess, spawn_worker, store_override

#: The listening ports the workers share: configuration key and section attribute.
SHARED_PORTS = (("http.port", "http"), ("operationsApi.port", "operations_api"), ("mqtt.port", "mqtt"))


def worker_count(config: Any) -> int:
    """
    How many worker processes C{config} asks for: C{threads.count} when the configuration sets
    it, else 1 (one process, no master).
    """
    return config.threads.count if config.raw["threads"]["count"] else 1


def unsupported(config: Any) -> list[str]:
    """
    What C{config} asks for that worker processes cannot do. (Replication and the admin console
    run in the primary worker, L{harper.workers.worker.PRIMARY}.)
    """
    problems = []
    if uri_scheme(config.storage.uri) == "memory":
        problems.append("storage.uri: a memory: store cannot be shared by worker processes")
    return problems


def secure_ports(config: Any) -> list[tuple[str, int, str]]:
    """
    The TLS ports the workers share, as C{(configuration key, port, host)} (the configuration
    demands C{tls} files for each). Each worker serves its inherited socket behind TLS as one
    process does (L{harper.service.tls}).
    """
    found = []
    for key, attribute in SECURE_LISTENERS:
        section = getattr(config, attribute)
        if section.secure_port:
            found.append((key, section.secure_port, section.host))
    return found


def bind_listener(key: str, host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """
    A non-blocking socket listening on C{host} (every IPv4 interface when empty) and C{port}.

    :param reuse_port: let other sockets listen on the same port too (C{SO_REUSEPORT}).
    :raises StartupError: naming C{key} when the port cannot be listened on.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listening.bind((host, port))
        listening.listen(socket.SOMAXCONN)
        listening.setblocking(False)
    except OSError as error:
        listening.close()
        raise StartupError([f"{key}: cannot listen on port {port}: {error.strerror or error}"]) from None
    return listening


def bind_listeners(key: str, host: str, port: int, count: int) -> list[socket.socket]:
    """
    C{count} sockets listening on C{host} and C{port} together, one per worker: the kernel
    spreads new connections over them. (Workers sharing one listening socket would not share
    the load: the first to wake accepts every connection waiting, and keeps them.)

    :raises StartupError: naming C{key} when the port cannot be listened on, also when
        another process shares it with C{SO_REUSEPORT} (a plain bind is tried first).
    """
    bind_listener(key, host, port).close()
    listening: list[socket.socket] = []
    try:
        for _ in range(count):
            listening.append(bind_listener(key, host, port, reuse_port=True))
    except StartupError:
        for bound in listening:
            bound.close()
        raise
    return listening


def shared_store(config: Any) -> tuple[str, Optional[ZEOServerProcess]]:
    """
    The storage URI the workers open, and the ZEO server the master runs for it (C{None} when
    the store is already a server: C{zeo://...} or PostgreSQL).
    """
    uri, root = config.storage.uri, config.root_path
    if uri_scheme(uri) != "file" and uri.lower() != "zeo:":
        return uri, None
    server = ZEOServerProcess(
        os.path.join(root, LOCAL_SOCKET),
        config.storage.file_path or default_file_path(root),
        os.path.join(root, LOCAL_LOG),
    )
    return "zeo://" + quote(server.socket_path), server


def _how_it_ended(reason: Any) -> str:
    """
    How a process ended, in words: C{"exited with status 1"}, C{"was killed by signal 9"}.
    """
    if reason.value.signal is not None:
        return f"was killed by signal {reason.value.signal}"
    return f"exited with status {reason.value.exitCode}"


class MasterService(service.Service):
    """
    Runs C{count} worker processes over one store and shared ports.

    :param config: the validated configuration.
    :param arguments: the C{twistd harper} options the workers get (see
        L{harper.workers.process.harper_arguments}).
    :param count: how many workers.
    :param reactor: the reactor.
    :param restart_delay: seconds between a worker's unexpected end and its restart.
    :param spawn: starts one worker (L{harper.workers.process.spawn_worker}'s signature).
    :ivar workers: the running workers, by index.
    :ivar exit_status: 1 once the master refused to start, else 0.
    :ivar terminal: where a refusal to start is written for the operator (twistd sends
        C{sys.stderr} to the log).
    """

    _log = Logger()

    def __init__(self, config: Any, arguments: Sequence[str], count: int, reactor: Any,
                 restart_delay: float = 0.5, spawn: Callable[..., None] = spawn_worker) -> None:
        self.config = config
        self.count = count
        self.workers: dict[int, WorkerProcess] = {}
        self.exit_status = 0
        self.terminal: TextIO = sys.__stderr__
        self._arguments = list(arguments)
        self._reactor = reactor
        self._restart_delay = restart_delay
        self._spawn_worker = spawn
        self._relay = EventRelay()
        self._sockets: dict[int, dict[str, socket.socket]] = {}
        self._server: Optional[ZEOServerProcess] = None
        self._ended: dict[int, Deferred] = {}
        self._stopping = False
        self._all_started = False

    def startService(self) -> None:
        super().startService()
        try:
            self._bind()
            uri, self._server = shared_store(self.config)
            if self._server is not None:
                self._server.start()
        except StartupError as error:
            self._refuse_to_start(error.problems)
            return
        self._arguments += store_override(uri)
        self._spawn(0)
        operations = self.config.operations_api
        write_run_file(self.config.root_path, operations.host, operations.port)

    def _bind(self) -> None:
        """
        Listen on every port the workers serve, with one socket per worker and port.
        """
        listeners = [
            (key, getattr(self.config, section).host, getattr(self.config, section).port)
            for key, section in SHARED_PORTS
            if getattr(self.config, section).port
        ]
        listeners += [(key, host, port) for key, port, host in secure_ports(self.config)]
        for key, host, port in listeners:
            for index, listening in enumerate(bind_listeners(key, host, port, self.count)):
                self._sockets.setdefault(index, {})[key] = listening

    def _spawn(self, index: int) -> None:
        if self._stopping:
            return
        worker = WorkerProcess(index, self._worker_ended)
        self.workers[index] = worker
        self._ended[index] = Deferred()
        channel = self._relay.channel(lambda: self._worker_ready(worker))
        self._spawn_worker(self._reactor, worker, self._arguments, self._sockets.get(index, {}), channel)

    def _worker_ready(self, worker: WorkerProcess) -> None:
        worker.ready = True
        self._log.info("worker {index} (pid {pid}) serving", index=worker.index, pid=worker.pid)
        if not self._all_started:
            self._all_started = True
            for index in range(1, self.count):
                self._spawn(index)

    def _worker_ended(self, worker: WorkerProcess, reason: Any) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
            self._ended.pop(worker.index).callback(None)
        if self._stopping:
            return
        how = _how_it_ended(reason)
        if not worker.ready and not any(w.ready for w in self.workers.values()):
            self._refuse_to_start([f"worker {worker.index} {how} before serving (see the log above)"])
            return
        self._log.warn(
            "worker {index} (pid {pid}) {how}; restarting it", index=worker.index, pid=worker.pid, how=how
        )
        self._reactor.callLater(self._restart_delay, self._spawn, worker.index)

    def _refuse_to_start(self, problems: Sequence[str]) -> None:
        self.exit_status = 1
        refuse_to_start(self._log, self.terminal, self._reactor, problems)

    def stopService(self) -> Any:
        super().stopService()
        self._stopping = True
        for worker in list(self.workers.values()):
            worker.transport.signalProcess("TERM")
        kill = self._reactor.callLater(10.0, self._kill_remaining)
        pending = list(self._ended.values())
        done = DeferredList(pending) if pending else succeed(None)

        def stopped(result: Any) -> Any:
            if kill.active():
                kill.cancel()
            self._close()
            return None

        return done.addBoth(stopped)

    def _kill_remaining(self) -> None:
        for worker in list(self.workers.values()):
            self._log.warn("worker {index} ignored SIGTERM; killing it", index=worker.index)
            worker.transport.signalProcess("KILL")

    def _close(self) -> None:
        for sockets in self._sockets.values():
            for listening in sockets.values():
                listening.close()
        self._sockets.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        remove_run_file(self.config.root_path)
