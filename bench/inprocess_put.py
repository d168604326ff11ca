"""
Measure harper's CPU time per durable PUT without sockets, per thread:
C{python bench/inprocess_put.py [--connections 32] [--groups 300] [--profile FILE]}.

It builds the daemon's whole service in this process (as C{bench/inprocess.py} does for GET by
id), loads the data set over HTTP, then opens C{--connections} keep-alive connections to the
HTTP site over L{StringTransport}s and, like wrk's closed loop, sends one
C{PUT /Dog/<n>} on every connection in one reactor iteration and waits for all the answers
(group commit, FileStorage fsync) before sending the next round. It prints the CPU
microseconds per PUT of the reactor thread and of the writer thread (from
C{/proc/self/task/<tid>/stat}) and of the whole process, best of three rounds.
C{--profile} writes cProfile statistics of the reactor thread during one more round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import cProfile  # noqa: E402
from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from bench import harness  # noqa: E402

#: Rounds measured; the fastest is reported.
ROUNDS = 3

_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu(native_id: int) -> float:
    """
    CPU seconds (user and system) of thread C{native_id} of this process.
    """
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def writer_thread() -> int:
    """
    The native id of harper's writer thread.
    """
    return next(t.native_id for t in threading.enumerate() if t.name == "harper-writer")


class _Answers(StringTransport):
    """
    A transport that calls C{answered()} when a response's head was written to it.
    """

    answered: Any = None

    def write(self, data: bytes) -> None:
        StringTransport.write(self, data)
        if data.startswith(b"HTTP/1.1 ") and self.answered is not None:
            self.answered(self)


class ClosedLoop:
    """
    C{connections} HTTP connections to C{site}, each with one PUT in flight.
    """

    def __init__(self, site: Any, port: int, connections: int) -> None:
        host = IPv4Address("TCP", "127.0.0.1", port)
        self.transports = []
        self.channels = []
        for number in range(connections):
            transport = _Answers(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000 + number), hostAddress=host)
            transport.answered = self._answered
            channel = site.buildProtocol(transport.getPeer())
            channel.makeConnection(transport)
            self.transports.append(transport)
            self.channels.append(channel)
        self.requests = [self._request(line, port) for line in harness.put_requests()]
        self.sent = 0
        self._waiting = 0
        self._done: Any = None

    @staticmethod
    def _request(line: str, port: int) -> bytes:
        _, path, body = line.split("\t")
        data = body.encode("utf-8")
        return (
            b"PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode("ascii"), port, len(data), data)
        )

    def _answered(self, transport: StringTransport) -> None:
        if not transport.value().startswith(b"HTTP/1.1 2"):
            self._done.errback(RuntimeError(f"unexpected answer: {transport.value()[:300]!r}"))
            return
        self._waiting -= 1
        if self._waiting == 0:
            self._done.callback(None)

    def round(self) -> Deferred:
        """
        Send one PUT on every connection; fire when every one was answered.
        """
        self._done = Deferred()
        self._waiting = len(self.channels)
        for channel, transport in zip(self.channels, self.transports):
            transport.clear()
            channel.dataReceived(self.requests[self.sent % len(self.requests)])
            self.sent += 1
        return self._done


async def measure(loop: ClosedLoop, groups: int, profile: str | None) -> dict[str, float]:
    """
    The fastest of L{ROUNDS} rounds of C{groups} closed-loop rounds, in CPU microseconds per
    PUT, per thread.
    """
    for _ in range(20):  # warm up
        await loop.round()
    writer = writer_thread()
    reactor_thread = threading.get_native_id()
    best: dict[str, float] = {}
    count = groups * len(loop.channels)
    for _ in range(ROUNDS):
        started = (thread_cpu(reactor_thread), thread_cpu(writer), time.process_time())
        for _ in range(groups):
            await loop.round()
        ended = (thread_cpu(reactor_thread), thread_cpu(writer), time.process_time())
        figures = {
            name: (end - start) / count * 1e6
            for name, start, end in zip(("reactor", "writer", "process"), started, ended)
        }
        if not best or figures["process"] < best["process"]:
            best = figures
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(groups):
            await loop.round()
        profiler.disable()
        profiler.dump_stats(profile)
    return best


def main(argv: list[str]) -> int:
    """
    Start the service, load the data, measure, print; return the exit status.
    """
    parser = argparse.ArgumentParser(description="harper's CPU time per PUT, in process, per thread.")
    parser.add_argument("--connections", type=int, default=32, help="PUTs in flight (32)")
    parser.add_argument("--groups", type=int, default=300, help="closed-loop rounds per measure (300)")
    parser.add_argument("--profile", help="also write cProfile statistics of the reactor thread here")
    parser.add_argument("--set", action="append", default=[], help="a harper setting key=value")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="harper-inprocess-put-")
    port = harness.free_port()
    service = harness.service_in_process(root, harness.bench_settings(port, args.set))

    def run() -> Deferred:
        loop = ClosedLoop(service.http_port.factory, port, args.connections)
        return Deferred.fromCoroutine(measure(loop, args.groups, args.profile))

    result = harness.run_in_process(service, port, run)
    shutil.rmtree(root, ignore_errors=True)
    if not isinstance(result, dict):
        print(f"measuring failed: {result}", file=sys.stderr)
        code = 1
    else:
        figures = result
        print(
            f"PUT, {args.connections} in flight: {figures['process']:.1f} us of CPU per request "
            f"(reactor thread {figures['reactor']:.1f}, writer thread {figures['writer']:.1f}; "
            f"best of {ROUNDS} x {args.groups} rounds)"
        )
        code = 0
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
