# -*- test-case-name: tests.service.test_daemon -*-
"""
Run the harper daemon as a real C{twistd -n harper} subprocess of the virtualenv, on free
loopback ports and a temporary root folder, and talk HTTP to it.

Every process started here is stopped when its test ends (SIGTERM, then SIGKILL if it does
not exit in time); every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
from typing import Any, Mapping, Optional, Sequence

import treq
from twisted.internet import error, protocol, reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

#: The checkout these tests belong to.
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: The example root configuration, which loads the kennel application.
KENNEL_CONFIG = os.path.join(REPOSITORY, "conf", "harper.yaml")

#: The twistd of the virtualenv running the tests.
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")

#: Ports that another harper (or broker) on this machine may hold: never used by tests.
RESERVED_PORTS = frozenset({1883, 9925, 9926})

#: How long a daemon may take to listen, or to exit, before a test fails.
DEADLINE = 20.0


def free_port() -> int:
    """
    A TCP port that nothing listens on now, never one of L{RESERVED_PORTS}.

    It is drawn at random below Linux's ephemeral range (32768 and up), so neither the
    outgoing connections of the many processes a parallel run starts nor another test's draw
    is likely to take it before the daemon it is meant for binds it.
    """
    while True:
        port = random.randrange(20000, 32768)
        if port in RESERVED_PORTS:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port


def write_tree(case: TestCase, files: Mapping[str, str]) -> str:
    """
    Write C{files} (relative path to text) into a new temporary folder of C{case}; return
    its absolute path.
    """
    root = os.path.abspath(case.mktemp())
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    return root


def daemon_arguments(root: str, http_port: int, *extra: str) -> list[str]:
    """
    The C{twistd} arguments of a foreground harper on C{http_port} with data in C{root}, the
    other listeners switched off; C{extra} harper options come last and win.
    """
    return [
        "-n", "--pidfile=", "harper",
        "--root", root,
        "--set", f"http.port={http_port}",
        "--set", "operationsApi.port=0",
        "--set", "mqtt.port=0",
        # Requests come from this machine: they must not depend on a configured super user.
        "--set", "authentication.authorizeLocal=true",
        *extra,
    ]


class ChildProcess(protocol.ProcessProtocol):
    """
    One subprocess: collects what it writes and how it ended.

    :ivar stdout: everything written to standard output (the twistd log).
    :ivar stderr: everything written to standard error.
    :ivar exit_code: the exit status, C{None} while running or when killed by a signal.
    :ivar signal: the signal that ended it, if any.
    """

    def __init__(self) -> None:
        self.stdout = b""
        self.stderr = b""
        self.exit_code: Optional[int] = None
        self.signal: Optional[int] = None
        self.running = True
        self._waiting: list[Deferred[Any]] = []

    def outReceived(self, data: bytes) -> None:
        self.stdout += data

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason: Any) -> None:
        self.running = False
        self.exit_code = reason.value.exitCode
        self.signal = reason.value.signal
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self.exit_code)

    def ended(self, timeout: float = DEADLINE) -> Deferred[Optional[int]]:
        """
        Fire with the exit code once the process has ended; fail with C{TimeoutError} after
        C{timeout} seconds.
        """
        if not self.running:
            return succeed(self.exit_code)
        d: Deferred[Optional[int]] = Deferred()
        self._waiting.append(d)
        return d.addTimeout(timeout, reactor)

    def output(self) -> str:
        """
        Both streams as text, to explain a failed assertion.
        """
        return (
            f"--- stdout ---\n{self.stdout.decode('utf-8', 'replace')}"
            f"--- stderr ---\n{self.stderr.decode('utf-8', 'replace')}"
        )


def start_process(
    case: TestCase, executable: str, arguments: Sequence[str], hidden: Sequence[str] = ()
) -> ChildProcess:
    """
    Spawn C{executable} with C{arguments} in a new temporary folder of C{case}, with this
    process's environment less the variables named in C{hidden}; stop it when the test ends.
    """
    cwd = os.path.abspath(case.mktemp())
    os.makedirs(cwd)
    environment = {name: value for name, value in os.environ.items() if name not in hidden}
    child = ChildProcess()
    transport = reactor.spawnProcess(
        child, executable, [executable, *arguments], env=environment, path=cwd
    )
    transport.closeStdin()
    case.addCleanup(stop_process, child)
    return child


def start_daemon(case: TestCase, arguments: Sequence[str]) -> ChildProcess:
    """
    Spawn the virtualenv's C{twistd} with C{arguments}, without the administrator variables
    of the environment; stop it when the test ends.
    """
    hidden = ("HARPER_ADMIN_USERNAME", "HARPER_ADMIN_PASSWORD")
    return start_process(case, TWISTD, arguments, hidden)


@inlineCallbacks
def stop_process(child: ChildProcess, timeout: float = DEADLINE) -> Any:
    """
    Send SIGTERM and wait for the exit; SIGKILL it and fail if it does not exit within
    C{timeout} seconds. Fires with the exit code (C{None} when ended by a signal).
    """
    if not child.running:
        return child.exit_code
    child.transport.signalProcess("TERM")
    try:
        return (yield child.ended(timeout))
    except error.TimeoutError:
        if child.running:
            child.transport.signalProcess("KILL")
        yield child.ended()
        raise AssertionError(f"the process ignored SIGTERM for {timeout} s\n{child.output()}")


@inlineCallbacks
def is_listening(port: int) -> Any:
    """
    Whether a TCP connection to 127.0.0.1:C{port} is accepted now.
    """
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=2)
    try:
        connected = yield endpoint.connect(protocol.Factory.forProtocol(protocol.Protocol))
    except error.ConnectError:
        return False
    connected.transport.loseConnection()
    return True


@inlineCallbacks
def wait_until_listening(daemon: ChildProcess, port: int, timeout: float = DEADLINE) -> Any:
    """
    Poll 127.0.0.1:C{port} until the daemon accepts connections; fail with its output if it
    exits first or takes longer than C{timeout} seconds.
    """
    deadline = reactor.seconds() + timeout
    while not (yield is_listening(port)):
        if not daemon.running:
            raise AssertionError(f"the daemon exited with {daemon.exit_code}\n{daemon.output()}")
        if reactor.seconds() > deadline:
            raise AssertionError(
                f"nothing listens on port {port} after {timeout} s\n{daemon.output()}"
            )
        yield deferLater(reactor, 0.05, lambda: None)


@inlineCallbacks
def request_json(method: str, url: str, body: Any = None) -> Any:
    """
    Send one HTTP request (C{body} encoded as JSON) on a new connection; fire with
    C{(status code, decoded JSON body or None)}.
    """
    pool = HTTPConnectionPool(reactor, persistent=False)
    headers = {"Content-Type": ["application/json"], "Accept": ["application/json"]}
    data = None if body is None else json.dumps(body).encode("utf-8")
    response = yield treq.request(
        method, url, data=data, headers=headers, pool=pool, timeout=DEADLINE
    )
    content = yield treq.content(response)
    return response.code, (json.loads(content) if content else None)
