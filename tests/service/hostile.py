"""
Hostile clients for the overload tests (L{tests.service.test_hostile}): blocking sockets that
hold connections idle, trickle requests byte by byte or send them whole, timed GETs, and the
resident memory of a process.
"""

from __future__ import annotations

import http.client
import itertools
import resource
import select
import selectors
import socket
import time
from typing import Optional

from tests.service.helpers import DEADLINE


def resident_bytes(pid: int) -> int:
    """
    The resident set size of process C{pid} (C{VmRSS} of C{/proc/<pid>/status}).
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def timed_get(port: int, path: str = "/Dog/1") -> tuple[int, float]:
    """
    One GET on a new connection (blocking): its status and how long it took in seconds.
    """
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def timed_gets(port: int, count: int, pause: float = 0.02) -> list[tuple[int, float]]:
    """
    C{count} GETs one after the other (blocking), C{pause} seconds apart.
    """
    answers = []
    for _ in range(count):
        answers.append(timed_get(port))
        time.sleep(pause)
    return answers


def send_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """
    Send C{head} and C{body} as they are on a new connection (blocking); read the answer
    until the server closes or stops writing for a moment. Returns the status and the bytes.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(head + body)
        data = b""
        try:
            while b"\r\n\r\n" not in data or sock_readable(sock, 0.3):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    return (int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0), data


def sock_readable(sock: socket.socket, timeout: float) -> bool:
    """
    Whether C{sock} has bytes (or its end) to read within C{timeout} seconds.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def open_idle(port: int, count: int) -> list[socket.socket]:
    """
    Open C{count} TCP connections to C{port} that never send anything (blocking).
    """
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=DEADLINE))
    except BaseException:
        close_all(sockets)
        raise
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """
    Whether the server closes C{sock} within C{timeout} seconds (without sending anything
    that matters: bytes read are dropped).
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sock_readable(sock, left):
            return False
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True


def trickle(port: int, head: bytes, count: int, interval: float, limit: float) -> list[tuple[Optional[float], bytes]]:
    """
    Open C{count} connections, send C{head} on each, then one more byte on each every
    C{interval} seconds, for at most C{limit} seconds (a slowloris attack). For each
    connection: the seconds after which the server closed it (C{None} if it did not) and the
    bytes it answered.
    """
    sockets = open_idle(port, count)
    started = time.monotonic()
    closed: dict[int, Optional[float]] = {n: None for n in range(count)}
    answers = {n: b"" for n in range(count)}
    selector = selectors.DefaultSelector()
    try:
        for n, sock in enumerate(sockets):
            sock.sendall(head)
            selector.register(sock, selectors.EVENT_READ, n)
        while time.monotonic() - started < limit and None in closed.values():
            for key, _ in selector.select(interval):
                n = key.data
                try:
                    data = sockets[n].recv(65536)
                except ConnectionResetError:
                    data = b""
                answers[n] += data
                if not data:
                    closed[n] = time.monotonic() - started
                    selector.unregister(sockets[n])
            for n, when in closed.items():
                if when is None:
                    try:
                        sockets[n].send(b"a")
                    except OSError:
                        closed[n] = time.monotonic() - started
                        selector.unregister(sockets[n])
    finally:
        selector.close()
        close_all(sockets)
    return [(closed[n], answers[n]) for n in range(count)]


def runs(codes: list[int]) -> list[tuple[int, int]]:
    """
    C{codes} as runs of one value: C{(code, how many in a row)}, in order.
    """
    return [(code, len(list(group))) for code, group in itertools.groupby(codes)]


def raise_file_limit(needed: int) -> tuple[int, int]:
    """
    Make sure this process (and the daemons it starts, which inherit the limit) may open
    C{needed} files: raise the soft limit up to the hard one, or fail saying why. Returns the
    limits before, to restore.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft, hard
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise AssertionError(f"this test needs {needed} open files per process, but the hard "
                             f"limit (ulimit -Hn) is {hard}: raise it for the test run")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else hard, hard))
    return soft, hard
