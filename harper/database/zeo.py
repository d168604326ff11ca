# -*- test-case-name: tests.storage.test_zeo -*-
"""
ZEO storages: the database lives in a ZEO server that several processes share.

C{zeo://host:port} connects to a ZEO server on a TCP port and C{zeo:///path/to/zeo.sock} to one
on a unix socket. C{zeo:} alone makes the daemon start its own server (L{ZEOServerProcess}): a
child process serving the FileStorage C{<rootPath>/database/harper.fs} (the file that C{file:}
uses) on the unix socket C{<rootPath>/database/zeo.sock}, restarted when it dies and stopped when
the database closes. Clients sync with the server when a transaction begins, so a write
transaction sees every commit acknowledged before it began, whichever process made it.

Reads are served on the reactor thread (C{blocking_reads} is false), like those of a
FileStorage: they reuse a snapshot until an invalidation from the server (or this process)
says that it changed (L{harper.database.transaction.TransactionRunner.read}), so a read costs
no round trip to the server, and sees another process's commit once its invalidation arrived
(this process's own commits at once); only renewing the snapshot after a commit, and loading
an object that is in neither the connection's nor the client's cache, wait for the server.

Run as C{python -m harper.database.zeo SOCKET FILE}, this module is that child process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Optional, Union
from urllib.parse import unquote, urlsplit

from twisted.logger import Logger
from ZEO.ClientStorage import ClientStorage
from ZEO.Exceptions import ClientDisconnected

from harper.database.storage import default_file_path, register_storage_opener
from harper.errors import StartupError

#: A ZEO server address: C{(host, port)} or the path of a unix socket.
Address = Union[str, tuple[str, int]]

#: Where C{zeo:} puts the server's socket and log, relative to the root path.
LOCAL_SOCKET = os.path.join("database", "zeo.sock")
LOCAL_LOG = os.path.join("database", "zeo.log")

#: The longest unix socket path the kernel accepts, in bytes.
MAX_SOCKET_PATH = 107

_FORMS = "'zeo:' (a ZEO server that harper starts), 'zeo://host:port' or 'zeo:///path/to/zeo.sock'"


def zeo_address(uri: str) -> Optional[Address]:
    """
    The server address of a C{zeo:} URI, or C{None} for C{zeo:} alone (the daemon's own server).

    :raises ValueError: saying what is wrong with C{uri}.
    """
    rest = uri[len("zeo:"):]
    if uri[:4].lower() != "zeo:" or (rest and not rest.startswith("//")):
        raise ValueError(f"expected {_FORMS}, got {uri!r}")
    if not rest:
        return None
    parts = urlsplit(uri)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"a zeo: URI takes no user, query or fragment, got {uri!r}")
    if not parts.netloc:
        path = unquote(parts.path)
        if path in ("", "/") or path.endswith("/"):
            raise ValueError(f"expected {_FORMS}, got {uri!r}")
        return path
    if parts.path not in ("", "/"):
        raise ValueError(f"a zeo://host:port URI takes no path, got {uri!r}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or not port:
        raise ValueError(f"expected zeo://host:port with a port from 1 to 65535, got {uri!r}")
    return (parts.hostname, port)


def uri_problems(uri: str) -> list[str]:
    """
    List what is wrong with a C{zeo:} URI (the configuration's check).
    """
    try:
        zeo_address(uri)
    except ValueError as error:
        return [str(error)]
    return []


class ZEOClientStorage(ClientStorage):
    """
    A ZEO client storage; when it owns the server it talks to, closing it stops that server.

    :cvar blocking_reads: false: reads come from the caches and run on the reactor thread
        (see the module's docstring); with worker processes, running them on the thread pool
        made each read a thread hop and a server round trip, and two workers served fewer
        reads than one process over a FileStorage.
    :ivar server: the server this storage stops when it closes, or C{None}.
    """

    blocking_reads = False
    server: Optional["ZEOServerProcess"] = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.server is not None:
                self.server.stop()
                self.server = None


def open_client_storage(address: Address, wait_timeout: float = 30.0) -> ZEOClientStorage:
    """
    Connect to the ZEO server at C{address}, waiting up to C{wait_timeout} seconds for it.

    :raises StartupError: when the server cannot be reached in time.
    """
    try:
        return ZEOClientStorage(address, wait_timeout=wait_timeout, server_sync=True)
    except ClientDisconnected:
        shown = address if isinstance(address, str) else "%s:%d" % address
        raise StartupError(
            [f"storage.uri: cannot reach the ZEO server at {shown} within {wait_timeout:g} s"]
        ) from None


class ZEOServerProcess:
    """
    A ZEO server in a child process, serving one FileStorage on a unix socket; restarted when it
    exits unexpectedly.

    Starting and stopping block, as opening and closing a storage do. The child exits by itself
    when this process dies (it watches its standard input, a pipe only we hold).

    :param socket_path: the unix socket the server listens on.
    :param file_path: the FileStorage file it serves.
    :param log_path: where its output goes.
    :param start_timeout: seconds to wait for the socket to accept connections.
    :param restart_delay: seconds between an unexpected exit and the restart.
    """

    _log = Logger()

    def __init__(
        self,
        socket_path: str,
        file_path: str,
        log_path: str,
        *,
        start_timeout: float = 30.0,
        restart_delay: float = 1.0,
    ) -> None:
        self.socket_path = socket_path
        self.file_path = file_path
        self.log_path = log_path
        self._start_timeout = start_timeout
        self._restart_delay = restart_delay
        self._process: Optional[subprocess.Popen] = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: Optional[threading.Thread] = None

    @classmethod
    def for_root(cls, root_path: str, **options: float) -> "ZEOServerProcess":
        """
        The server that C{zeo:} runs for the data folder C{root_path}.
        """
        root_path = os.path.abspath(root_path)
        return cls(
            os.path.join(root_path, LOCAL_SOCKET),
            default_file_path(root_path),
            os.path.join(root_path, LOCAL_LOG),
            **options,
        )

    @property
    def pid(self) -> Optional[int]:
        """
        The process id of the running server, or C{None}.
        """
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        """
        Start the server and wait until it accepts connections, then supervise it.

        :raises StartupError: if the socket path is too long or the server does not come up.
        """
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise StartupError([
                f"storage.uri: the ZEO socket {self.socket_path} is longer than the"
                f" {MAX_SOCKET_PATH} bytes a unix socket path may have; use a shorter rootPath"
            ])
        if _accepts(self.socket_path):
            raise StartupError([
                f"storage.uri: a ZEO server already listens on {self.socket_path}; is another"
                " harper running with this rootPath?"
            ])
        for path in (self.socket_path, self.file_path, self.log_path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._stopping.clear()
        log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self._process = self._spawn()
        try:
            self._wait_until_listening(self._process, log_start)
        except StartupError:
            self._end(self._process)
            self._process.stdin.close()
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="zeo-supervisor", daemon=True)
        self._supervisor.start()
        self._log.info(
            "ZEO server {pid} serving {file} on {socket}",
            pid=self.pid, file=self.file_path, socket=self.socket_path,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """
        Stop supervising and end the server (SIGTERM, then SIGKILL after C{timeout} seconds).
        """
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None:
            self._end(process, timeout)
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None

    def _spawn(self) -> subprocess.Popen:
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "harper.database.zeo", self.socket_path, self.file_path],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_until_listening(self, process: subprocess.Popen, log_start: int) -> None:
        deadline = time.monotonic() + self._start_timeout
        while not _accepts(self.socket_path):
            if process.poll() is not None:
                raise StartupError([
                    f"storage.uri: the ZEO server exited with status {process.returncode}:"
                    f" {_last_line(self.log_path, log_start)} (see {self.log_path})"
                ])
            if time.monotonic() > deadline:
                raise StartupError([
                    f"storage.uri: the ZEO server did not listen on {self.socket_path} within"
                    f" {self._start_timeout:g} s (see {self.log_path})"
                ])
            time.sleep(0.02)

    def _supervise(self) -> None:
        while True:
            process = self._process
            status = process.wait()
            if not process.stdin.closed:
                process.stdin.close()
            if self._stopping.is_set():
                return
            self._log.warn(
                "ZEO server {pid} exited with status {status}; restarting it",
                pid=process.pid, status=status,
            )
            if self._stopping.wait(self._restart_delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._process = self._spawn()
                except OSError:
                    self._log.failure("cannot restart the ZEO server")

    @staticmethod
    def _end(process: subprocess.Popen, timeout: float = 10.0) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _last_line(path: str, start: int) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return "no output"
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("For help")]
    return lines[-1].strip() if lines else "no output"


def open_zeo_storage(uri: str, root_path: str) -> ZEOClientStorage:
    """
    Open the storage of a C{zeo:} URI (the opener of the C{zeo} scheme); for C{zeo:} alone,
    start the daemon's own server first.
    """
    address = zeo_address(uri)
    if address is not None:
        return open_client_storage(address)
    server = ZEOServerProcess.for_root(root_path)
    server.start()
    try:
        storage = open_client_storage(server.socket_path)
    except BaseException:
        server.stop()
        raise
    storage.server = server
    return storage


register_storage_opener("zeo", open_zeo_storage)


def _exit_with_parent() -> None:
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def serve(socket_path: str, file_path: str) -> None:
    """
    Run a ZEO server for C{file_path} on C{socket_path} until SIGTERM or until standard input
    closes (the parent is gone).
    """
    from ZEO import runzeo

    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    runzeo.main(["-a", socket_path, "-f", file_path])


if __name__ == "__main__":
    serve(*sys.argv[1:])
