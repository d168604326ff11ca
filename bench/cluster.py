"""
The benchmarks of harper beyond one process, for C{bench/run.py}: GET by id with two worker
processes (C{threads.count=2}; C{python -m bench.cluster} compares them with one process in
back-to-back pairs), the replication lag between two nodes on loopback, and the
MQTT fan-out of C{bench/mqtt_throughput.py} run as a subprocess.

WebSocket fan-out runs C{bench/ws_fanout.py} against one harper.

The replication lag is measured from outside, like everything in the bench: PUTs at a fixed
rate on node A, a Server-Sent Events subscription to C{/Dog/} on node B, and for every record
written the time from its PUT being sent (and from its acknowledgement) to its event on B.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from bench import harness

#: The MQTT runs: (label, arguments of C{bench/mqtt_throughput.py}).
MQTT_RUNS = (
    ("QoS 0, 1 subscriber", ("--qos", "0", "--subscribers", "1", "--messages", "10000")),
    ("QoS 1, 1 subscriber", ("--qos", "1", "--subscribers", "1", "--messages", "5000")),
    ("QoS 0, 50 subscribers", ("--qos", "0", "--subscribers", "50", "--messages", "1000")),
)

#: Connections that write on node A in the replication benchmark.
LAG_CLIENTS = 32

#: The keys of the records the replication benchmark writes start above the data set's.
_FIRST_KEY = 1_000_001

#: Seconds to wait for the nodes to connect, and for the last writes to arrive on B.
_CONNECT_DEADLINE = 30.0
_DRAIN_DEADLINE = 10.0


def measure_workers(
    folder: str, duration: float, threads: int, connections: int, workers: int = 2
) -> harness.WrkResult:
    """
    Start harper with C{workers} worker processes in C{folder}, load the data set and measure
    GET by id on it with wrk.
    """
    root = os.path.join(folder, f"root-{workers}-workers")
    os.makedirs(root)
    server = harness.harper_server(
        root, harness.free_port(), settings=[f"threads.count={workers}"]
    )
    try:
        server.start()
        harness.load_dataset(server.port)
        path = harness.write_requests(
            os.path.join(folder, "workers-get.requests"), harness.get_requests()
        )
        return harness.run_wrk(server.port, path, duration, threads, connections)
    finally:
        server.stop()


def compare_workers(
    folder: str, duration: float, threads: int, connections: int, rounds: int = 2
) -> list[tuple[harness.WrkResult, harness.WrkResult]]:
    """
    GET by id with one process, then right after with two workers, C{rounds} times (the
    machine may be shared: each pair is measured back to back); the pairs.
    """
    pairs = []
    for number in range(rounds):
        pair_folder = os.path.join(folder, f"pair-{number}")
        os.makedirs(pair_folder)
        one = measure_workers(pair_folder, duration, threads, connections, workers=1)
        two = measure_workers(pair_folder, duration, threads, connections, workers=2)
        pairs.append((one, two))
    return pairs


def _node(folder: str, name: str, replication_port: int, routes: Sequence[int]) -> harness.Server:
    root = os.path.join(folder, f"node-{name}")
    os.makedirs(root)
    urls = json.dumps([f"ws://127.0.0.1:{port}" for port in routes])
    return harness.harper_server(root, harness.free_port(), settings=[
        f"replication.hostname=node-{name}",
        f"replication.port={replication_port}",
        f"replication.url=ws://127.0.0.1:{replication_port}",
        f"replication.routes={urls}",
        "replication.username=cluster",
        "replication.password=bench-secret",
    ])


class EventWatch:
    """
    A Server-Sent Events subscription to C{/Dog/} on a harper, in a daemon thread, that
    notes when the first event of each record key arrived.

    :ivar arrivals: C{time.perf_counter()} of the first event, by record key (text).
    :ivar subscribed: set once the server confirmed the subscription.
    """

    def __init__(self, port: int) -> None:
        self.arrivals: dict[str, float] = {}
        self.subscribed = threading.Event()
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        self._connection.request("GET", "/Dog/", headers={"Accept": "text/event-stream"})
        response = self._connection.getresponse()
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                if line.startswith(b":"):
                    self.subscribed.set()
                elif line.startswith(b"data:"):
                    self._note(line[5:])
        except (OSError, ValueError, http.client.HTTPException):
            return

    def _note(self, data: bytes) -> None:
        arrived = time.perf_counter()
        value = json.loads(data)
        if isinstance(value, dict) and "id" in value:
            self.arrivals.setdefault(str(value["id"]), arrived)

    def wait_for(self, keys: Sequence[str], deadline: float) -> bool:
        """
        Wait until every key of C{keys} arrived or C{deadline} seconds passed; whether all did.
        """
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if all(key in self.arrivals for key in keys):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """
        End the subscription: shut its socket down so that the reading thread sees the end
        of the stream (closing the connection under it would wait for its read).
        """
        if self._connection.sock is not None:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)


@dataclass
class WriteLog:
    """
    When each write of the replication benchmark was sent and acknowledged, by record key.
    """

    sent: dict[str, float] = field(default_factory=dict)
    acknowledged: dict[str, float] = field(default_factory=dict)
    refused: int = 0


def _write_paced(port: int, keys: range, interval: float, log: WriteLog) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    due = time.perf_counter()
    for key in keys:
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due += interval
        log.sent[str(key)] = time.perf_counter()
        status, _ = harness.http_request(
            port, "PUT", f"/Dog/{key}", harness.dog_record(key % harness.DOGS + 1), connection
        )
        if 200 <= status < 300:
            log.acknowledged[str(key)] = time.perf_counter()
        else:
            log.refused += 1
    connection.close()


def write_at_rate(port: int, rate: float, seconds: float, clients: int = LAG_CLIENTS) -> WriteLog:
    """
    PUT new dogs on the harper on C{port} at about C{rate} per second for C{seconds} seconds
    from C{clients} connections; when each was sent and acknowledged.
    """
    per_client = int(rate * seconds) // clients
    log = WriteLog()
    writers = [
        threading.Thread(target=_write_paced, args=(
            port,
            range(_FIRST_KEY + c * per_client, _FIRST_KEY + (c + 1) * per_client),
            clients / rate,
            log,
        ))
        for c in range(clients)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    return log


@dataclass(frozen=True)
class LagResult:
    """
    What the replication benchmark measured.

    :ivar writes: writes acknowledged on A.
    :ivar rate: writes acknowledged per second on A.
    :ivar seen: of those, how many reached B's subscriber.
    :ivar from_send: (p50, p99) in ms from sending the PUT on A to the event on B.
    :ivar from_ack: (p50, p99) in ms from A's acknowledgement to the event on B.
    """

    writes: int
    rate: float
    seen: int
    from_send: tuple[float, float]
    from_ack: tuple[float, float]


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    pick = lambda share: ordered[min(len(ordered) - 1, int(len(ordered) * share))]  # noqa: E731
    return pick(0.50) * 1000, pick(0.99) * 1000


def measure_replication_lag(folder: str, rate: float, seconds: float) -> LagResult:
    """
    Start nodes A and B (B routes to A) in C{folder}, subscribe to C{/Dog/} on B, write on A
    at C{rate} per second for C{seconds} seconds and measure when each write reached B.
    """
    port_a, port_b = harness.free_port(), harness.free_port()
    node_a = _node(folder, "a", port_a, [])
    node_b = _node(folder, "b", port_b, [port_a])
    watch: Optional[EventWatch] = None
    try:
        node_a.start()
        node_b.start()
        watch = EventWatch(node_b.port)
        if not watch.subscribed.wait(_CONNECT_DEADLINE):
            raise RuntimeError("the subscription to /Dog/ on node B was not confirmed")
        _wait_connected(node_a.port, watch)
        started = time.perf_counter()
        log = write_at_rate(node_a.port, rate, seconds)
        elapsed = time.perf_counter() - started
        watch.wait_for(list(log.acknowledged), _DRAIN_DEADLINE)
        arrivals = dict(watch.arrivals)
    finally:
        if watch is not None:
            watch.close()
        node_b.stop()
        node_a.stop()
    seen = [key for key in log.acknowledged if key in arrivals]
    return LagResult(
        writes=len(log.acknowledged),
        rate=len(log.acknowledged) / elapsed,
        seen=len(seen),
        from_send=_percentiles([arrivals[k] - log.sent[k] for k in seen]),
        from_ack=_percentiles([arrivals[k] - log.acknowledged[k] for k in seen]),
    )


def _wait_connected(port_a: int, watch: EventWatch) -> None:
    # Write probes on A until one reaches B: the nodes are then connected and caught up.
    end = time.monotonic() + _CONNECT_DEADLINE
    probe = _FIRST_KEY - 1
    while time.monotonic() < end:
        harness.http_request(port_a, "PUT", f"/Dog/{probe}", harness.dog_record(1))
        if watch.wait_for([str(probe)], 1.0):
            return
        probe -= 1
    raise RuntimeError("node B did not receive node A's writes")


def run_mqtt(arguments: Sequence[str]) -> str:
    """
    Run C{bench/mqtt_throughput.py} with C{arguments}; its output (harper, mosquitto and
    their ratio when mosquitto is installed).
    """
    script = os.path.join(harness.REPOSITORY, "bench", "mqtt_throughput.py")
    done = subprocess.run(
        [sys.executable, script, *arguments], capture_output=True, text=True, timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mqtt_throughput.py failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


#: The WebSocket fan-out runs: (subscribers, writes, writes per second).
WS_RUNS = ((1, 1000, 200.0), (50, 1000, 200.0))

_WS_RESULT = re.compile(r"^WS_RESULT (\{.*\})$", re.MULTILINE)


def measure_ws_fanout(folder: str) -> list[tuple[int, dict]]:
    """
    Start harper in C{folder} and run C{bench/ws_fanout.py} against it for each of
    L{WS_RUNS}: (subscribers, its figures) for each.
    """
    root = os.path.join(folder, "root-websocket")
    os.makedirs(root)
    server = harness.harper_server(root, harness.free_port())
    script = os.path.join(harness.REPOSITORY, "bench", "ws_fanout.py")
    figures = []
    try:
        server.start()
        for subscribers, writes, rate in WS_RUNS:
            done = subprocess.run(
                [sys.executable, script, str(server.port), str(subscribers), str(writes),
                 str(rate)],
                capture_output=True, text=True, timeout=120, check=False,
            )
            match = _WS_RESULT.search(done.stdout)
            if match is None:
                raise RuntimeError(f"ws_fanout.py printed no result:\n{done.stderr}")
            figures.append((subscribers, json.loads(match.group(1))))
    finally:
        server.stop()
    return figures



def main() -> None:
    """
    C{python -m bench.cluster} (from the checkout, in the virtualenv): two pairs of GET by
    id, one process then two workers, and each pair's ratio.
    """
    with tempfile.TemporaryDirectory(prefix="harper-workers-") as folder:
        for one, two in compare_workers(folder, 10.0, 2, 32):
            print(f"1 process {one.rate:,.0f}/s (p99 {one.p99_ms:.1f} ms), 2 workers"
                  f" {two.rate:,.0f}/s (p99 {two.p99_ms:.1f} ms): {two.rate / one.rate:.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
