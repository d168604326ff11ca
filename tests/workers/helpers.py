"""
Helpers of the worker end-to-end tests: which process serves a loopback TCP connection (read
from C{/proc}, Linux only), and HTTP requests sent through the worker a test chooses.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
from typing import Any, Iterable, Optional

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater

from tests.service.helpers import DEADLINE

#: Whether this system shows sockets and their owners in /proc.
HAS_PROC = os.path.exists("/proc/net/tcp")

#: The line a worker logs once it serves: its index and pid.
_SERVING = re.compile(rb"worker (\d+) \(pid (\d+)\) serving")


@inlineCallbacks
def wait_for_workers(daemon: Any, count: int, gone: tuple[int, ...] = ()) -> Any:
    """
    Fire with the pid of every serving worker of C{daemon} (a started daemon of
    L{tests.service.helpers}) by index, once C{count} workers serve and none of them is one of
    the C{gone} pids.
    """
    deadline = reactor.seconds() + DEADLINE
    while True:
        workers = {int(i): int(pid) for i, pid in _SERVING.findall(daemon.stdout)}
        if len(workers) == count and not set(workers.values()) & set(gone):
            return workers
        if reactor.seconds() > deadline or not daemon.running:
            raise AssertionError(f"{count} workers do not serve\n{daemon.output()}")
        yield deferLater(reactor, 0.05, lambda: None)


def _accepted_inode(server_port: int, client_port: int) -> Optional[str]:
    """
    The inode of the server side of the loopback connection from C{client_port}.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    if int(local.rsplit(":", 1)[1], 16) == server_port and \
                            int(remote.rsplit(":", 1)[1], 16) == client_port and inode != "0":
                        return inode
        except FileNotFoundError:
            continue
    return None


def serving_pid(server_port: int, client_port: int, pids: Iterable[int], timeout: float = 5.0) -> int:
    """
    Which of C{pids} holds the accepted end of the connection from local port C{client_port}
    to C{server_port} (blocking; waits up to C{timeout} seconds for the accept).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inode = _accepted_inode(server_port, client_port)
        if inode is not None:
            link = f"socket:[{inode}]"
            for pid in pids:
                try:
                    descriptors = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in descriptors:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                            return pid
                    except OSError:
                        continue
        time.sleep(0.01)
    raise AssertionError(f"no process of {sorted(pids)} accepted the connection from port {client_port}")


def connection_to(port: int, pid: int, pids: Iterable[int], attempts: int = 200) -> http.client.HTTPConnection:
    """
    A persistent HTTP connection to 127.0.0.1:C{port} that worker C{pid} accepted (blocking).
    """
    pids = list(pids)
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.connect()
        if serving_pid(port, connection.sock.getsockname()[1], pids) == pid:
            return connection
        connection.close()
    raise AssertionError(f"worker {pid} accepted none of {attempts} connections")


def send(connection: http.client.HTTPConnection, method: str, path: str, body: Any = None,
         headers: Optional[dict[str, str]] = None) -> tuple[int, Any, float]:
    """
    Send one JSON request on C{connection} (blocking), with C{headers} besides the JSON ones;
    return the status, the decoded body (or C{None}) and the C{time.monotonic()} at which the
    response arrived.
    """
    data = None if body is None else json.dumps(body)
    connection.request(method, path, body=data, headers={
        "Content-Type": "application/json", "Accept": "application/json", **(headers or {}),
    })
    response = connection.getresponse()
    arrived = time.monotonic()
    content = response.read()
    return response.status, (json.loads(content) if content else None), arrived
