"""
Tests for L{harper.database.zeo}: C{zeo:} URIs, the conformance suite over the daemon's own
ZEO server (C{zeo:}) and over an external one (C{zeo://host:port}), and the supervision of the
server process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import ZEO
import ZODB
from twisted.trial.unittest import TestCase
from zc.lockfile import LockFile

from harper.components.config_storage import STORAGE_SCHEMES
from harper.database.storage import default_file_path, open_database
from harper.database.zeo import (
    LOCAL_SOCKET,
    ZEOServerProcess,
    open_client_storage,
    zeo_address,
)
from harper.errors import StartupError
from tests.helpers import runner_over
from tests.storage.conformance import SharedStorageMixin, StorageConformanceMixin


def short_root(case: TestCase) -> str:
    """
    A new folder directly under the system's temporary folder, removed when the test ends:
    trial's own folders are too deep for a unix socket path.
    """
    root = tempfile.mkdtemp(prefix="harper-zeo-")
    case.addCleanup(shutil.rmtree, root, True)
    return root


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """
    Poll C{predicate} until it returns something true (another process has to act, so no
    Clock can stand in for the wait); fail after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting after {timeout} s")


def process_gone(pid: int) -> bool:
    """
    Whether process C{pid} has ended (exited, or a zombie nobody reaped yet).
    """
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class AddressTests(TestCase):
    """
    L{zeo_address} and the configuration's check of C{zeo:} URIs.
    """

    def test_forms(self) -> None:
        """
        C{zeo:} is the daemon's own server, C{zeo://host:port} a TCP server (IPv6 hosts in
        brackets) and C{zeo:///path} a server on a unix socket.
        """
        cases = {
            "zeo:": None,
            "zeo://db.example:8100": ("db.example", 8100),
            "zeo://[::1]:8100/": ("::1", 8100),
            "ZEO://127.0.0.1:1": ("127.0.0.1", 1),
            "zeo:///srv/harper/zeo.sock": "/srv/harper/zeo.sock",
        }
        for uri, expected in cases.items():
            self.assertEqual(zeo_address(uri), expected, uri)

    def test_bad_uris(self) -> None:
        """
        Each malformed URI is refused with a sentence naming it, through the configuration's
        registered check too.
        """
        for uri in (
            "zeo:db:8100",
            "zeo://db",
            "zeo://db:0",
            "zeo://db:port",
            "zeo://db:99999",
            "zeo://me@db:8100",
            "zeo://db:8100/path",
            "zeo://db:8100?x=1",
            "zeo:///",
            "zeo:///srv/",
        ):
            error = self.assertRaises(ValueError, zeo_address, uri)
            self.assertIn(repr(uri), str(error))
            self.assertEqual(STORAGE_SCHEMES.check(uri), [str(error)])
        self.assertEqual(STORAGE_SCHEMES.check("zeo://db:8100"), [])

    def test_unreachable_server(self) -> None:
        """
        A server that does not answer in time stops the start with a clear message.
        """
        path = os.path.join(short_root(self), "nobody.sock")
        error = self.assertRaises(StartupError, open_client_storage, path, wait_timeout=0.2)
        self.assertIn(f"cannot reach the ZEO server at {path} within 0.2 s", str(error))


class LocalZEOConformanceTests(StorageConformanceMixin, SharedStorageMixin, TestCase):
    """
    The database layer over C{zeo:}, the daemon's own ZEO server; the peer connects to its
    socket with C{zeo:///path}.
    """

    def open_db(self) -> ZODB.DB:
        self.root = short_root(self)
        return open_database("zeo:", self.root, pool_size=5)

    def open_peer_db(self) -> ZODB.DB:
        return open_database("zeo://" + os.path.join(self.root, LOCAL_SOCKET), self.root, pool_size=5)

    def test_files_under_root(self) -> None:
        """
        The server serves C{<rootPath>/database/harper.fs} (the file of C{file:}) on
        C{<rootPath>/database/zeo.sock}, and its storage says that reads do not block.
        """
        storage = self.runner.db.storage
        self.assertFalse(storage.blocking_reads)
        self.assertEqual(storage.server.file_path, default_file_path(self.root))
        socket_path = os.path.join(self.root, "database", "zeo.sock")
        self.assertEqual(storage.server.socket_path, socket_path)
        self.assertTrue(os.path.exists(default_file_path(self.root)))


    def test_reused_snapshot_sees_peer_commits(self) -> None:
        """
        A read snapshot that is reused between reads (no round trip to the server) sees a
        commit made through another client once that commit's invalidation arrived, within a
        few milliseconds; a read after this client's own commit sees it at once.
        """
        peer = runner_over(self, self.open_peer_db())
        self.put(id=1, name="Rex")
        read = lambda: peer.read(lambda txn: self.dogs.get(txn, 1))  # noqa: E731
        wait_for(read)
        delays = []
        for version in range(20):
            self.put(id=1, name=f"Rex {version}")
            committed = time.monotonic()
            wait_for(lambda: read()["name"] == f"Rex {version}", timeout=5.0)
            delays.append(time.monotonic() - committed)
        self.assertLess(sorted(delays)[len(delays) // 2], 0.5)
        peer.run_blocking(lambda txn: self.dogs.patch(txn, 1, {"name": "Max"}))
        self.assertEqual(read()["name"], "Max")


class RemoteZEOConformanceTests(StorageConformanceMixin, SharedStorageMixin, TestCase):
    """
    The database layer over C{zeo://127.0.0.1:port}, a ZEO server this test runs in a thread.
    """

    def setUp(self) -> None:
        self.root = short_root(self)
        address, stop = ZEO.server(path=os.path.join(self.root, "server.fs"))
        self.addCleanup(stop)
        self.uri = "zeo://%s:%d" % address
        super().setUp()

    def open_db(self) -> ZODB.DB:
        return open_database(self.uri, self.root, pool_size=5)

    open_peer_db = open_db

    def test_no_server_started(self) -> None:
        """
        A C{zeo://host:port} storage owns no server process and says that reads do not block.
        """
        self.assertIsNone(self.runner.db.storage.server)
        self.assertFalse(self.runner.db.storage.blocking_reads)


class ServerProcessTests(TestCase):
    """
    L{ZEOServerProcess}: starting, stopping, restarting, refusing to start.
    """

    def setUp(self) -> None:
        self.root = short_root(self)

    def server(self, **options: float) -> ZEOServerProcess:
        server = ZEOServerProcess.for_root(self.root, **options)
        server.start()
        self.addCleanup(server.stop)
        return server

    def test_stopped_with_database(self) -> None:
        """
        Closing the database of C{zeo:} ends the server process and removes its socket.
        """
        db = open_database("zeo:", self.root)
        server = db.storage.server
        pid = server.pid
        self.assertFalse(process_gone(pid))
        db.close()
        self.assertTrue(process_gone(pid))
        self.assertIsNone(server.pid)
        self.assertFalse(os.path.exists(server.socket_path))

    def test_restarted_after_crash(self) -> None:
        """
        A server that dies is started again, and its clients reconnect and keep their data.
        """
        server = self.server(restart_delay=0.05)
        storage = open_client_storage(server.socket_path)
        runner = runner_over(self, ZODB.DB(storage))
        runner.run_blocking(lambda txn: txn.databases().__setitem__("probe", 1))
        first = server.pid
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: server.pid not in (None, first) and server.pid)
        wait_for(storage.is_connected)
        runner.run_blocking(lambda txn: txn.databases().__setitem__("probe", 2))
        self.assertEqual(runner.read(lambda txn: txn.databases()["probe"]), 2)
        self.assertEqual(server.pid, second)

    def test_exits_with_parent(self) -> None:
        """
        When the process that started the server dies without stopping it, the server exits
        by itself (and so releases the FileStorage).
        """
        script = (
            "import sys, time\n"
            "from harper.database.zeo import ZEOServerProcess\n"
            "server = ZEOServerProcess.for_root(sys.argv[1])\n"
            "server.start()\n"
            "print(server.pid, flush=True)\n"
            "time.sleep(60)\n"
        )
        parent = subprocess.Popen([sys.executable, "-c", script, self.root], stdout=subprocess.PIPE)
        self.addCleanup(parent.wait)
        self.addCleanup(parent.kill)
        child = int(parent.stdout.readline())
        parent.stdout.close()
        parent.kill()
        wait_for(lambda: process_gone(child))
        LockFile(default_file_path(self.root) + ".lock").close()

    def test_locked_file_refused(self) -> None:
        """
        When the server cannot open its file (another process holds it), the start fails with
        the server's reason and where its log is.
        """
        path = default_file_path(self.root)
        os.makedirs(os.path.dirname(path))
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys\nfrom ZODB.FileStorage import FileStorage\n"
             "held = FileStorage(sys.argv[1])\nprint('locked', flush=True)\nsys.stdin.read()", path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdin.close)
        self.assertEqual(holder.stdout.readline(), b"locked\n")
        holder.stdout.close()
        error = self.assertRaises(StartupError, open_database, "zeo:", self.root)
        self.assertIn("the ZEO server exited with status", str(error))
        self.assertIn("lock", str(error).lower())
        self.assertIn(os.path.join(self.root, "database", "zeo.log"), str(error))

    def test_second_server_refused(self) -> None:
        """
        A second C{zeo:} over a root path whose server already runs is refused, and the first
        server keeps serving.
        """
        server = self.server()
        error = self.assertRaises(StartupError, open_database, "zeo:", self.root)
        self.assertIn(f"a ZEO server already listens on {server.socket_path}", str(error))
        open_client_storage(server.socket_path).close()

    def test_socket_path_too_long(self) -> None:
        """
        A root path too deep for a unix socket is refused before anything starts.
        """
        root = os.path.join(self.root, "x" * 100)
        error = self.assertRaises(StartupError, open_database, "zeo:", root)
        self.assertIn("use a shorter rootPath", str(error))
        self.assertFalse(os.path.exists(root))
