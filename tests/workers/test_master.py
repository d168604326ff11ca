"""
Tests for L{harper.workers.master} and L{harper.workers.process}: when there is a master, what
it refuses, the sockets and store it shares, and how it starts, restarts and stops workers.
"""

from __future__ import annotations

import io
import os
import socket

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.errors import StartupError
from harper.service.runfile import read_run_file
from harper.workers.bus import READY
from harper.workers.master import (
    MasterService, bind_listener, bind_listeners, secure_ports, shared_store, unsupported, worker_count,
)
from harper.workers.process import WorkerProcess, harper_arguments, store_override


def configuration(case: TestCase, text: str = ""):
    """
    A configuration read from C{text}, with a new temporary root folder.
    """
    return config_from_string(text, base_dir=".", root=os.path.abspath(case.mktemp()), environ={})


class ConfigurationTests(TestCase):
    """
    What the configuration decides.
    """

    def test_worker_count(self) -> None:
        """
        Without C{threads.count} the daemon stays one process, whatever the cores; with it,
        that many workers.
        """
        self.assertEqual(worker_count(configuration(self)), 1)
        self.assertEqual(worker_count(configuration(self, "threads: {count: 3}")), 3)
        self.assertEqual(worker_count(configuration(self, "threads: {count: 1}")), 1)

    def test_unsupported(self) -> None:
        """
        What workers do not do is listed, each with the key to change; a plain config has none,
        and neither have the admin console and replication (the primary worker runs them).
        """
        self.assertEqual(unsupported(configuration(self)), [])
        problems = unsupported(configuration(
            self, "manhole: {telnetPort: 2323, password: s}\nstorage: {uri: 'memory:'}\nreplication: {hostname: a}"
        ))
        self.assertEqual([p.split(":")[0] for p in problems], ["storage.uri"])

    def test_secure_ports(self) -> None:
        """
        The TLS ports are shared (each worker wraps its socket in TLS); none without them.
        """
        self.assertEqual(secure_ports(configuration(self)), [])
        config = configuration(self, "tls: {certificate: c.pem, privateKey: k.pem}\n"
                                     "http: {securePort: 4443}\nmqtt: {securePort: 8883, host: 0.0.0.0}\n")
        self.assertEqual(secure_ports(config), [
            ("http.securePort", 4443, "127.0.0.1"), ("mqtt.securePort", 8883, "0.0.0.0"),
        ])

    def test_shared_store(self) -> None:
        """
        A C{file:} or C{zeo:} store is served by a ZEO server on the root's socket, which the
        workers open; a server store is opened by the workers as it is.
        """
        config = configuration(self)
        uri, server = shared_store(config)
        self.assertEqual(uri, "zeo://" + os.path.join(config.root_path, "database", "zeo.sock"))
        self.assertEqual(server.file_path, config.storage.file_path)
        uri, server = shared_store(configuration(self, "storage: {uri: 'zeo:'}"))
        self.assertEqual((uri.startswith("zeo:///"), server is not None), (True, True))
        remote = "postgresql://h@127.0.0.1:5432/harper"
        self.assertEqual(shared_store(configuration(self, f"storage: {{uri: '{remote}'}}")), (remote, None))

    def test_bind_listener(self) -> None:
        """
        The listening socket accepts connections; a port in use is refused naming the key.
        """
        listening = bind_listener("http.port", "127.0.0.1", 0)
        self.addCleanup(listening.close)
        port = listening.getsockname()[1]
        socket.create_connection(("127.0.0.1", port)).close()
        with self.assertRaises(StartupError) as raised:
            bind_listener("mqtt.port", "127.0.0.1", port)
        self.assertIn(f"mqtt.port: cannot listen on port {port}", raised.exception.message)

    def test_bind_listeners(self) -> None:
        """
        Each worker gets its own socket on the port, and new connections are spread over
        them; a port another process listens on, shared or not, is refused.
        """
        first = bind_listener("http.port", "127.0.0.1", 0)
        port = first.getsockname()[1]
        first.close()
        sockets = bind_listeners("http.port", "127.0.0.1", port, 2)
        for listening in sockets:
            self.addCleanup(listening.close)
        self.assertEqual({s.getsockname()[1] for s in sockets}, {port})
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        for client in clients:
            self.addCleanup(client.close)
        accepted = []
        for listening in sockets:
            count = 0
            while True:
                try:
                    listening.accept()[0].close()
                except BlockingIOError:
                    break
                count += 1
            accepted.append(count)
        self.assertEqual(sum(accepted), 40)
        self.assertNotIn(0, accepted)
        with self.assertRaises(StartupError):
            bind_listeners("mqtt.port", "127.0.0.1", port, 2)

    def test_arguments(self) -> None:
        """
        Workers get the master's options with absolute paths, then the shared store.
        """
        options = {"config": "h.yaml", "app": ["app"], "set": ["http.port=1"]}
        self.assertEqual(harper_arguments(options, "root") + store_override("zeo:///s"), [
            "--root", os.path.abspath("root"), "--config", os.path.abspath("h.yaml"),
            "--app", os.path.abspath("app"), "--set", "http.port=1",
            "--set", 'storage.uri="zeo:///s"', "--set", "threads.count=1",
        ])


class FakeProcess(StringTransport):
    """
    The transport of a spawned worker: a pid and the signals sent to it.
    """

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.signals: list[str] = []

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class MasterServiceTests(TestCase):
    """
    L{MasterService} with a spawn function that records the workers instead of starting them.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.spawned: list[tuple[WorkerProcess, object]] = []
        self.config = configuration(self, "threads: {count: 2}\nstorage: {uri: 'zeo://127.0.0.1:9'}\n"
                                          "http: {port: 0}\noperationsApi: {port: 0}\nmqtt: {port: 0}")
        self.master = MasterService(self.config, ["--root", "r"], 2, self.reactor, restart_delay=1.0, spawn=self.spawn)
        self.master.terminal = io.StringIO()

    def spawn(self, reactor, worker, arguments, sockets, channel) -> None:
        """
        Record C{worker}, give it a fake process and connect its bus channel.
        """
        self.assertEqual(arguments[-4:], store_override("zeo://127.0.0.1:9"))
        worker.makeConnection(FakeProcess(100 + len(self.spawned)))
        channel.makeConnection(StringTransport())
        self.spawned.append((worker, channel))

    def ready(self, number: int) -> None:
        """
        The C{number}th spawned worker says it serves.
        """
        self.spawned[number][1].dataReceived(len(READY).to_bytes(4, "big"))

    def end(self, number: int, reason) -> None:
        """
        The C{number}th spawned worker ends with C{reason}.
        """
        self.spawned[number][0].processEnded(Failure(reason))

    def test_first_worker_alone(self) -> None:
        """
        The first worker starts alone (it migrates the store); the others once it serves. The
        run file names the master.
        """
        self.master.startService()
        self.assertEqual(len(self.spawned), 1)
        self.ready(0)
        self.assertEqual([w.index for w, _ in self.spawned], [0, 1])
        self.assertEqual(read_run_file(self.config.root_path)["pid"], os.getpid())

    def test_restart(self) -> None:
        """
        A worker that dies is started again after the restart delay, under the same index.
        """
        self.master.startService()
        self.ready(0)
        self.ready(1)
        self.end(0, ProcessTerminated(signal=9))
        self.assertEqual(sorted(self.master.workers), [1])
        self.reactor.advance(1.0)
        self.assertEqual([w.index for w, _ in self.spawned], [0, 1, 0])
        self.ready(2)
        self.assertEqual(len(self.spawned), 3)

    def test_first_worker_fails(self) -> None:
        """
        When the first worker exits before it serves, the master gives up with status 1
        instead of restarting it.
        """
        self.master.startService()
        self.end(0, ProcessTerminated(exitCode=1))
        self.reactor.advance(5)
        self.assertEqual((len(self.spawned), self.master.exit_status), (1, 1))
        self.assertEqual(self.reactor.whenRunningHooks, [(self.reactor.stop, (), {})])
        self.assertIn("worker 0 exited with status 1 before serving", self.master.terminal.getvalue())

    def test_refusal_closes(self) -> None:
        """
        A port that cannot be listened on stops the master with status 1, naming the key,
        before any worker starts.
        """
        taken = bind_listener("http.port", "127.0.0.1", 0)
        self.addCleanup(taken.close)
        port = taken.getsockname()[1]
        master = MasterService(configuration(self, f"http: {{port: {port}, host: 127.0.0.1}}"), [], 2,
                               self.reactor, spawn=self.spawn)
        master.terminal = io.StringIO()
        master.startService()
        self.assertEqual((self.spawned, master.exit_status), ([], 1))
        self.assertIn(f"http.port: cannot listen on port {port}", master.terminal.getvalue())
        self.successResultOf(master.stopService())

    def test_stop(self) -> None:
        """
        Stopping sends SIGTERM to every worker, does not restart them, and finishes once all
        ended (removing the run file); one that ignores SIGTERM is killed after 10 s.
        """
        self.master.startService()
        self.ready(0)
        stopped = self.master.stopService()
        processes = [worker.transport for worker, _ in self.spawned]
        self.assertEqual([p.signals for p in processes], [["TERM"], ["TERM"]])
        self.end(0, ProcessDone(0))
        self.assertNoResult(stopped)
        self.reactor.advance(10)
        self.assertEqual(processes[1].signals, ["TERM", "KILL"])
        self.end(1, ProcessTerminated(signal=9))
        self.successResultOf(stopped)
        self.reactor.advance(5)
        self.assertEqual(len(self.spawned), 2)
        self.assertIsNone(read_run_file(self.config.root_path))
