"""
The soak run of C{python bench/run.py --soak [MINUTES]}: mixed load on one harper daemon for
a while, watching its memory and file descriptors.

The load, all at once for the whole run:

- wrk (C{-t1 -c16}) cycling through GETs by id, durable PUTs and indexed queries, interleaved;
- an MQTT client (paho) that connects, subscribes to C{Dog/#}, publishes retained QoS 1
  messages to C{Dog/<n>} (durable writes through the same table), and disconnects, over and
  over, so MQTT sessions come and go;
- a WebSocket client that opens a subscription to C{/Dog/} (a raw RFC 6455 handshake), waits
  for a change to arrive, and closes, over and over.

Every 10 s it samples the daemon's resident memory (C{VmRSS} in C{/proc/<pid>/status}) and
its open file descriptors (C{/proc/<pid>/fd}). At the end it stops the load, lets the daemon
settle, and prints whether RSS grew less than 10% from the sample at minute 2 (at half the run
for runs shorter than 4 minutes) and whether the descriptor count came back to what it was
before the load, apart from the read handles FileStorage pools on the database file (one per
thread that read at the same time, L{POOLED_READ_HANDLES} at most).
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench import harness
from harper.database.storage import default_file_path

#: Seconds between samples of the daemon.
SAMPLE_EVERY = 10.0

#: RSS may grow by less than this fraction after the reference sample.
RSS_GROWTH_LIMIT = 0.10

#: Seconds the daemon gets after the load stops before the final count of descriptors.
SETTLE_SECONDS = 8.0

#: Read handles FileStorage may keep open on the database file after the load: it pools one
#: per thread that read at the same time (the worker threads of C{storage.threadPoolSize}, the
#: writer and the reactor thread), so these are not leaked descriptors.
POOLED_READ_HANDLES = 10 + 2

#: The super user created at the first start (MQTT clients must log in to use tables).
ADMIN = ("soak", "soak-password")


@dataclass(frozen=True)
class Sample:
    """
    One look at the daemon: seconds since the load started, RSS in kB, open descriptors.
    """

    seconds: float
    rss_kb: int
    fds: int


def sample(pid: int, started: float) -> Sample:
    """
    The daemon's resident memory and open descriptor count now.
    """
    rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return Sample(time.monotonic() - started, rss, len(os.listdir(f"/proc/{pid}/fd")))


def descriptors(pid: int) -> dict[str, str]:
    """
    What each open descriptor of the daemon points to (file, socket, pipe), by number.
    """
    folder = f"/proc/{pid}/fd"
    targets = {}
    for name in os.listdir(folder):
        try:
            targets[name] = os.readlink(os.path.join(folder, name))
        except OSError:  # closed meanwhile
            pass
    return targets


def mixed_requests() -> list[str]:
    """
    GETs by id, PUTs and indexed queries of the benchmark data set, interleaved.
    """
    gets, puts, queries = harness.get_requests(), harness.put_requests(), harness.query_requests()
    lines = []
    for index, put in enumerate(puts):
        lines += [gets[index % len(gets)], put, queries[index % len(queries)]]
    return lines


@dataclass
class ClientLoop:
    """
    A client repeating C{once} on its own thread until stopped, counting rounds and errors.
    """

    name: str
    once: Callable[[], None]
    rounds: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def start(self) -> "ClientLoop":
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.once()
                self.rounds += 1
            except Exception as error:  # the soak reports client failures, it does not stop
                self.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


def mqtt_round(port: int) -> Callable[[], None]:
    """
    One MQTT session as the L{ADMIN} user: connect, subscribe to C{Dog/#}, publish 20 retained QoS 1 messages,
    wait for their acknowledgements, disconnect.
    """

    def once() -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.username_pw_set(*ADMIN)
        connected = threading.Event()
        client.on_connect = lambda _client, _data, _flags, reason, _props: (
            connected.set() if not reason.is_failure else None
        )
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        try:
            if not connected.wait(10):
                raise RuntimeError("no CONNACK in 10 s")
            client.subscribe("Dog/#", qos=1)
            infos = []
            for _ in range(20):
                number = random.randint(1, harness.DOGS)
                payload = json.dumps(harness.dog_record(number, random.randint(0, 9)))
                infos.append(client.publish(f"Dog/{number}", payload, qos=1, retain=True))
            for info in infos:
                info.wait_for_publish(10)
                if not info.is_published():
                    raise RuntimeError("a QoS 1 publish was not acknowledged in 10 s")
        finally:
            client.disconnect()
            client.loop_stop()

    return once


def websocket_round(port: int) -> Callable[[], None]:
    """
    One WebSocket subscription to C{/Dog/}: handshake, wait up to 2 s for a frame, close.
    """

    def once() -> None:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        handshake = (
            f"GET /Dog/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(handshake.encode("ascii"))
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = conn.recv(4096)
                if not chunk:
                    raise RuntimeError("the WebSocket handshake was cut off")
                answer += chunk
            if not answer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"WebSocket handshake answered {answer[:60]!r}")
            conn.settimeout(2)
            try:
                conn.recv(4096)
            except socket.timeout:
                pass
            # A masked close frame (status 1000), as a client must send.
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x03\xe8"))
            conn.sendall(b"\x88\x82" + mask + payload)

    return once


def rss_verdict(samples: list[Sample], minutes: float) -> tuple[Sample, float]:
    """
    The reference sample (minute 2, or half the run when it is shorter than 4 minutes) and the
    growth of RSS from it to the last sample under load, as a fraction.
    """
    at = 120.0 if minutes >= 4 else minutes * 30.0
    reference = next((s for s in samples if s.seconds >= at), samples[-1])
    return reference, samples[-1].rss_kb / reference.rss_kb - 1.0


def soak(folder: str, minutes: float) -> bool:
    """
    Run the soak for C{minutes} in C{folder}; print the samples and the verdicts; return
    whether both held.
    """
    root = os.path.join(folder, "root")
    os.makedirs(root)
    mqtt_port = harness.free_port()
    server = harness.harper_server(root, harness.free_port(), settings=[f"mqtt.port={mqtt_port}"])
    os.environ["HARPER_ADMIN_USERNAME"], os.environ["HARPER_ADMIN_PASSWORD"] = ADMIN
    try:
        server.start()
        assert server.process is not None
        pid = server.process.pid
        print(f"harper on port {server.port} (MQTT {mqtt_port}), pid {pid}; loading the data set...")
        harness.load_dataset(server.port)
        ws_probe = websocket_round(server.port)
        ws_probe()
        time.sleep(2)
        started = time.monotonic()
        before = sample(pid, started)
        opened = descriptors(pid)
        print(f"before the load: RSS {before.rss_kb / 1024:.1f} MB, {before.fds} descriptors")
        requests = harness.write_requests(os.path.join(folder, "soak.requests"), mixed_requests())
        seconds = minutes * 60.0
        wrk = subprocess.Popen(
            ["wrk", "-t1", "-c16", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", harness.WRK_SCRIPT,
             f"http://127.0.0.1:{server.port}", "--", requests],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        clients = [
            ClientLoop("mqtt", mqtt_round(mqtt_port)).start(),
            ClientLoop("websocket", websocket_round(server.port)).start(),
        ]
        samples = []
        print(f"{'minute':>8}{'RSS MB':>10}{'fds':>6}")
        while wrk.poll() is None:
            time.sleep(SAMPLE_EVERY)
            if wrk.poll() is not None:
                break
            samples.append(sample(pid, started))
            last = samples[-1]
            print(f"{last.seconds / 60:>8.1f}{last.rss_kb / 1024:>10.1f}{last.fds:>6}", flush=True)
        for client in clients:
            client.stop()
        result = harness.parse_wrk_output(wrk.communicate()[0])
        time.sleep(SETTLE_SECONDS)
        after = sample(pid, started)
        left = {fd: target for fd, target in descriptors(pid).items() if opened.get(fd) != target}
    finally:
        server.stop()
    if not samples:
        print("the run was too short to take a sample")
        return False
    print(
        f"HTTP: {result.requests:,} requests ({result.rate:,.0f}/s), {result.errors} errors, "
        f"p99 {result.p99_ms:.1f} ms"
    )
    for client in clients:
        print(f"{client.name}: {client.rounds:,} sessions, {len(client.errors)} failed"
              + (f" (first: {client.errors[0]})" if client.errors else ""))
    reference, growth = rss_verdict(samples, minutes)
    rss_ok = growth < RSS_GROWTH_LIMIT
    database = default_file_path(root)
    pooled = sum(1 for target in left.values() if target == database)
    fds_ok = after.fds - pooled <= before.fds and pooled <= POOLED_READ_HANDLES
    print(
        f"RSS {reference.rss_kb / 1024:.1f} MB at minute {reference.seconds / 60:.1f}, "
        f"{samples[-1].rss_kb / 1024:.1f} MB at the end: {growth:+.1%} "
        f"(< {RSS_GROWTH_LIMIT:.0%}: {'met' if rss_ok else 'NOT met'})"
    )
    print(
        f"descriptors: {before.fds} before the load, {max(s.fds for s in samples)} at most under "
        f"load, {after.fds} {SETTLE_SECONDS:g} s after it: {'back to' if fds_ok else 'NOT back to'} "
        "the count before"
        + (f" (apart from {pooled} pooled read handle(s) on the database file, at most "
           f"{POOLED_READ_HANDLES})" if pooled else "")
        + (f"; new since: {sorted(left.values())}" if left else "")
    )
    return rss_ok and fds_ok and not any(client.errors for client in clients) and result.errors == 0
