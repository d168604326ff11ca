"""
Measure harper's CPU time per GET by id without sockets:
C{python bench/inprocess.py [--requests N] [--profile FILE] [--set key=value]...}.

It builds the daemon's whole service in this process (C{twistd harper} with the kennel
example, as C{bench/run.py} starts it), loads the data set over HTTP, then feeds
C{GET /Dog/<n>} requests, as wrk writes them, to the HTTP site over one keep-alive
connection on a L{StringTransport}, and prints the CPU time per request (best of three
rounds). Without the network and wrk on the same cores, the spread between runs is 1-3 us,
where the daemon's figure under wrk moves by 10 us on a loaded machine. C{--profile} writes
cProfile statistics of one more round (for C{pstats}).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from typing import Any

# The checkout instead of bench/ on the path: bench/profile.py would hide the standard
# library's profile module, which cProfile imports.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import cProfile  # noqa: E402
from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from bench import harness  # noqa: E402

#: Rounds measured; the fastest is reported.
ROUNDS = 3


def requests(port: int, count: int) -> list[bytes]:
    """
    C{count} GETs by id cycling over the dogs, formatted as wrk sends them.
    """
    return [
        b"GET /Dog/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (n % harness.DOGS + 1, port)
        for n in range(count)
    ]


def cpu_per_request(site: Any, port: int, count: int, profile: str | None) -> float:
    """
    The fastest of L{ROUNDS} rounds of C{count} GETs to C{site}, in CPU microseconds per
    request; with C{profile}, one more round runs under cProfile and its statistics are
    written there.
    """
    peer = IPv4Address("TCP", "127.0.0.1", 50000)
    transport = StringTransport(peerAddress=peer, hostAddress=IPv4Address("TCP", "127.0.0.1", port))
    channel = site.buildProtocol(peer)
    channel.makeConnection(transport)
    lines = requests(port, count)
    for line in lines[: harness.DOGS]:  # warm the caches
        channel.dataReceived(line)
    if not transport.value().startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {transport.value()[:300]!r}")
    best = float("inf")
    for _ in range(ROUNDS):
        transport.clear()
        started = time.process_time()
        for line in lines:
            channel.dataReceived(line)
            transport.clear()
        best = min(best, (time.process_time() - started) / count * 1e6)
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for line in lines:
            channel.dataReceived(line)
            transport.clear()
        profiler.disable()
        profiler.dump_stats(profile)
    return best


def main(argv: list[str]) -> int:
    """
    Start the service, load the data, measure, print; return the exit status.
    """
    parser = argparse.ArgumentParser(description="harper's CPU time per GET by id, in process.")
    parser.add_argument("--requests", type=int, default=10000, help="requests per round (10000)")
    parser.add_argument("--profile", help="also write cProfile statistics of one round here")
    parser.add_argument("--set", action="append", default=[], help="a harper setting key=value")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="harper-inprocess-")
    port = harness.free_port()
    service = harness.service_in_process(root, harness.bench_settings(port, args.set))
    result = harness.run_in_process(
        service, port, lambda: cpu_per_request(service.http_port.factory, port, args.requests, args.profile)
    )
    shutil.rmtree(root, ignore_errors=True)
    if not isinstance(result, float):
        print(f"measuring failed: {result}", file=sys.stderr)
        code = 1
    else:
        print(f"GET by id: {result:.1f} us of CPU per request (best of {ROUNDS} x {args.requests})")
        code = 0
    sys.stdout.flush()
    # The service's database threads are not daemon threads, and stopping it cleanly is not
    # what is measured here.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
