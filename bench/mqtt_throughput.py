"""
End-to-end MQTT throughput: one publisher sends 100-byte messages through a broker to N
subscribers; prints the deliveries per second (messages received, all subscribers together),
the p99 latency, the broker's CPU time per delivery and how busy the clients were.

Two kinds of clients:

  - C{paho} (the default, as in issue 7): paho-mqtt clients, the publisher in a process of
    its own and the subscribers spread over a few processes, so no client shares its
    interpreter lock with another. On a 2-core machine these clients need more CPU per
    message than either broker, so the figures measure the clients as much as the broker.
  - C{raw}: minimal MQTT 3.1.1 clients over plain sockets in this process, which write
    pre-built packets and count fixed-size ones without decoding them, the publisher never
    more than 500 messages ahead of the slowest subscriber. Against harper they need a few
    percent of a core, so the broker is the limit (its CPU column then nears 100% on a quiet
    machine); mosquitto writes in smaller pieces, and the clients then need much more.

The harper broker runs in a child process (plain topics, no database), the tree of this
checkout and, with C{--harper-tree}, that of another checkout (e.g. C{git archive HEAD} of
an older commit) for before/after figures in the same run. When Debian's C{mosquitto} is on
the PATH the same load runs against it and the ratio is printed; for QoS 0 to one subscriber,
so is the ratio to the original Harper's figure (issue 7: 12,000-16,000 messages/s with a paho
client on a 2-core machine; the lower bound is used). The broker's CPU per delivery (from
C{/proc/<pid>/stat}) is the figure that depends least on the clients and the machine's load.

    python bench/mqtt_throughput.py [--messages 20000] [--subscribers 1] [--qos 0]
                                    [--client paho|raw] [--publishers 1] [--issue7]
                                    [--harper-tree PATH] [--py-spy FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Optional

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from bench import harness, profile  # noqa: E402  (needs the checkout on the path)

#: The original Harper 4.7's end-to-end QoS 0 rate with a paho client on this kind of machine
#: (issue 7 gives 12,000-16,000 messages/s; we compare with the lower bound).
ORIGINAL_QOS0 = 12_000

#: The runs of C{--issue7}: (label, QoS, subscribers, messages published with paho clients,
#: with raw clients).
ISSUE7_RUNS = (
    ("QoS 0, 1 -> 1", 0, 1, 30_000, 100_000),
    ("QoS 1, 1 -> 1", 1, 1, 15_000, 50_000),
    ("QoS 0, 1 -> 50", 0, 50, 2_000, 5_000),
)

#: QoS 1 and 2 messages a publisher keeps unacknowledged (paho's default is 20).
PUBLISHER_INFLIGHT = 256

#: A subscriber process stops waiting once nothing arrived for this many seconds.
IDLE_SECONDS = 3.0

#: The bytes of each message: an 8-byte send time and padding.
PADDING = b"x" * 92

#: harper's broker, plain topics only. A subscriber may fall 64 MiB behind before its QoS 0
#: messages are dropped (1 MiB by default, see docs/mqtt.md), so that a client process starved
#: of CPU loses nothing, as with mosquitto, whose queue of QoS 0 messages is unbounded.
BROKER = """
import sys
from twisted.internet import reactor
from harper.mqtt.broker import Broker
from harper.mqtt.protocol import MQTTFactory
from harper.mqtt.session import SessionSettings
broker = Broker(reactor, require_authentication=False,
                settings=SessionSettings(max_queued_bytes=64 << 20))
reactor.listenTCP(int(sys.argv[1]), MQTTFactory(broker, reactor), interface="127.0.0.1")
reactor.run()
"""


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no broker on port {port}")


def cpu_seconds(pid: int) -> float:
    """
    The user and system CPU time process C{pid} used so far.
    """
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the client processes ------------------------------------------------------------------


def paho_client(client_id: str) -> Any:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)


def subscriber_process(port: int, first: int, clients: int, qos: int, expected: int) -> None:
    """
    Connect C{clients} subscribers of C{bench/#}, say C{ready}, receive; print a JSON line
    with what arrived once each got C{expected} messages or nothing came for a while.
    """
    latencies: list[float] = []
    last = [0.0, 0.0]
    counts = [0] * clients
    subscribed = threading.Semaphore(0)
    everyone = threading.Event()
    lock = threading.Lock()
    done_clients = [0]

    def receiver(index: int) -> Callable[..., None]:
        def on_message(client: Any, userdata: Any, message: Any) -> None:
            now = time.perf_counter()
            latencies.append(now - struct.unpack_from("!d", message.payload)[0])
            last[0] = now
            counts[index] += 1
            if counts[index] == expected:
                with lock:
                    done_clients[0] += 1
                    if done_clients[0] == clients:
                        everyone.set()
        return on_message

    subscribers = []
    for index in range(clients):
        client = paho_client(f"bench-sub-{first + index}")
        client.on_message = receiver(index)
        client.on_subscribe = lambda *args: subscribed.release()
        client.connect("127.0.0.1", port)
        client.loop_start()
        client.subscribe("bench/#", qos)
        subscribers.append(client)
    for _ in subscribers:
        subscribed.acquire(timeout=30)
    print("ready", flush=True)
    cpu = time.process_time()
    while not everyone.wait(0.5):
        if last[0] and time.perf_counter() - last[0] > IDLE_SECONDS:
            break
    print(json.dumps({"received": len(latencies), "last": last[0], "latencies": latencies,
                      "cpu": time.process_time() - cpu}), flush=True)
    for client in subscribers:
        client.disconnect()
        client.loop_stop()


def publisher_process(port: int, index: int, qos: int, count: int) -> None:
    """
    Connect one publisher, say C{ready}, wait for a line on standard input, publish C{count}
    messages as fast as paho takes them (and, for QoS 1 and 2, until all are acknowledged);
    print a JSON line with when it started and ended.
    """
    acknowledged = threading.Event()
    acks = [0]

    def on_publish(*args: Any) -> None:
        acks[0] += 1
        if acks[0] == count:
            acknowledged.set()

    client = paho_client(f"bench-pub-{index}")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(PUBLISHER_INFLIGHT)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(count):
        client.publish("bench/topic", struct.pack("!d", time.perf_counter()) + PADDING, qos)
    if qos:
        acknowledged.wait(120)
    end = time.perf_counter()
    print(json.dumps({"start": start, "end": end, "cpu": time.process_time() - cpu}), flush=True)
    client.disconnect()
    client.loop_stop()


# -- the raw clients ----------------------------------------------------------------------

#: The topic of the raw clients' messages, and the MQTT 3.1.1 string that encodes it.
_TOPIC = b"bench/topic"
_TOPIC_FIELD = struct.pack("!H", len(_TOPIC)) + _TOPIC


def _raw_connect(port: int, client_id: str) -> socket.socket:
    """
    A connected MQTT 3.1.1 client socket (clean session, no keep-alive), CONNACK read.
    """
    name = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack("!H", len(name)) + name
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(bytes((0x10, len(body))) + body)
    if sock.recv(4) != b"\x20\x02\x00\x00":
        raise SystemExit(f"{client_id}: CONNECT refused")
    return sock


def _raw_subscribe(sock: socket.socket, qos: int) -> None:
    body = b"\x00\x01" + struct.pack("!H", 7) + b"bench/#" + bytes((qos,))
    sock.sendall(bytes((0x82, len(body))) + body)
    if sock.recv(5) != b"\x90\x03\x00\x01" + bytes((qos,)):
        raise SystemExit("SUBSCRIBE refused")


def _raw_publishes(count: int, first_id: int, qos: int) -> bytes:
    """
    C{count} PUBLISH packets of 100 bytes stamped with the time now (one stamp for all).
    """
    stamp = struct.pack("!d", time.perf_counter()) + PADDING
    if not qos:
        return (bytes((0x30, 2 + len(_TOPIC) + len(stamp))) + _TOPIC_FIELD + stamp) * count
    head = bytes((0x32, 4 + len(_TOPIC) + len(stamp))) + _TOPIC_FIELD
    return b"".join(head + struct.pack("!H", (first_id + n) % 0xFFFF + 1) + stamp
                    for n in range(count))


class _RawSubscriber:
    """
    Counts the fixed-size PUBLISH packets arriving on one socket (and answers PUBACK to
    QoS 1 ones); notes the latency of the last packet of each read.
    """

    def __init__(self, sock: socket.socket, qos: int) -> None:
        self.sock = sock
        self.qos = qos
        self.size = 2 + len(_TOPIC_FIELD) + (2 if qos else 0) + 8 + len(PADDING)
        self.first = 0x30 | qos << 1
        self.received = 0
        self._partial = b""

    def read(self, latencies: list[float]) -> None:
        data = self._partial + self.sock.recv(1 << 20)
        size = self.size
        whole = len(data) - len(data) % size
        if not whole:
            self._partial = data
            return
        if data[0:whole:size].count(self.first) != whole // size:
            raise SystemExit("a raw subscriber got a packet it does not expect")
        self.received += whole // size
        stamp = whole - size + 2 + len(_TOPIC_FIELD) + (2 if self.qos else 0)
        latencies.append(time.perf_counter() - struct.unpack_from("!d", data, stamp)[0])
        if self.qos:
            at = 2 + len(_TOPIC_FIELD)
            self.sock.sendall(b"".join(b"\x40\x02" + data[offset + at:offset + at + 2]
                                       for offset in range(0, whole, size)))
        self._partial = data[whole:]


def raw_load(port: int, messages: int, subscribers: int, qos: int,
             window: int = 500) -> tuple[int, float, list[float], float]:
    """
    Publish C{messages} through the broker at C{port} to C{subscribers}, with minimal
    clients in this process that neither decode nor allocate per message: the publisher
    writes pre-built packets, never more than C{window} ahead of the slowest subscriber.

    :return: (deliveries, seconds from the first write to the last delivery, latencies of the
        last packet of each read, CPU seconds this process used).
    """
    receivers = [_RawSubscriber(_raw_connect(port, f"bench-raw-sub-{index}"), qos)
                 for index in range(subscribers)]
    for receiver in receivers:
        _raw_subscribe(receiver.sock, qos)
        receiver.sock.setblocking(False)
    publisher = _raw_connect(port, "bench-raw-pub")
    selector = selectors.DefaultSelector()
    for receiver in receivers:
        selector.register(receiver.sock, selectors.EVENT_READ, receiver)
    selector.register(publisher, selectors.EVENT_READ, None)
    latencies: list[float] = []
    sent = acknowledged = 0
    cpu = time.process_time()
    start = last = time.perf_counter()
    while True:
        slowest = min(receiver.received for receiver in receivers)
        if slowest >= messages and acknowledged >= messages * (qos > 0):
            break
        room = min(window - (sent - slowest), messages - sent, 200)
        if room > 0:
            publisher.sendall(_raw_publishes(room, sent, qos))
            sent += room
        events = selector.select(0 if room > 0 else 1.0)
        if not events and time.perf_counter() - last > IDLE_SECONDS:
            break
        for key, _ in events:
            if key.data is None:
                acknowledged += len(publisher.recv(1 << 20)) // 4
            else:
                key.data.read(latencies)
            last = time.perf_counter()
    cpu = time.process_time() - cpu
    for receiver in receivers:
        receiver.sock.close()
    publisher.close()
    return sum(receiver.received for receiver in receivers), last - start, latencies, cpu


# -- the measuring process ---------------------------------------------------------------


class Result:
    """
    One broker's figures for one run.
    """

    def __init__(self, delivered: int, expected: int, elapsed: float, p99_ms: float,
                 broker_cpu: float, publisher_busy: float, subscriber_busy: float) -> None:
        self.delivered = delivered
        self.lost = expected - delivered
        self.elapsed = elapsed
        self.rate = delivered / elapsed if elapsed > 0 else 0.0
        self.p99_ms = p99_ms
        self.broker_busy = broker_cpu / elapsed if elapsed > 0 else 0.0
        self.us_per_delivery = 1e6 * broker_cpu / delivered if delivered else float("nan")
        self.publisher_busy = publisher_busy
        self.subscriber_busy = subscriber_busy


def _client(role: str, port: int, *values: int) -> subprocess.Popen:
    argv = [sys.executable, os.path.abspath(__file__), "--role", role, "--port", str(port)]
    argv += [str(value) for value in values]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _expect_ready(process: subprocess.Popen) -> None:
    line = process.stdout.readline()
    if line.strip() != "ready":
        raise SystemExit(f"a client process did not start: {line!r}")


def _p99_ms(latencies: list[float]) -> float:
    latencies = sorted(latencies)
    return latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("nan")


def run_raw(port: int, broker_pid: int, args: argparse.Namespace) -> Result:
    """
    Run one load with the raw clients on the broker at C{port}, process C{broker_pid}.
    """
    cpu_before = cpu_seconds(broker_pid)
    delivered, elapsed, latencies, client_cpu = raw_load(port, args.messages, args.subscribers,
                                                         args.qos)
    broker_cpu = cpu_seconds(broker_pid) - cpu_before
    busy = client_cpu / elapsed if elapsed > 0 else 0.0
    return Result(delivered, args.messages * args.subscribers, elapsed, _p99_ms(latencies),
                  broker_cpu, busy, busy)


def run_paho(port: int, broker_pid: int, args: argparse.Namespace) -> Result:
    """
    Run one load with paho clients on the broker at C{port}, process C{broker_pid}.
    """
    groups = min(args.subscribers, args.subscriber_processes)
    subscribers = []
    for group in range(groups):
        clients = args.subscribers // groups + (group < args.subscribers % groups)
        first = sum(s[1] for s in subscribers)
        subscribers.append((_client("subscriber", port, first, clients, args.qos, args.messages),
                            clients))
    for process, _ in subscribers:
        _expect_ready(process)
    counts = [args.messages // args.publishers + (index < args.messages % args.publishers)
              for index in range(args.publishers)]
    publishers = [_client("publisher", port, index, args.qos, count)
                  for index, count in enumerate(counts)]
    for process in publishers:
        _expect_ready(process)
    cpu_before = cpu_seconds(broker_pid)
    for process in publishers:
        process.stdin.write("go\n")
        process.stdin.flush()
    sent = [json.loads(process.stdout.readline()) for process in publishers]
    received = [json.loads(process.stdout.readline()) for process, _ in subscribers]
    broker_cpu = cpu_seconds(broker_pid) - cpu_before
    for process in publishers + [process for process, _ in subscribers]:
        process.wait(30)
    start = min(one["start"] for one in sent)
    end = max([one["last"] for one in received] + [one["end"] for one in sent])
    latencies = [latency for one in received for latency in one["latencies"]]
    delivered = len(latencies)
    elapsed = end - start
    publisher_busy = max(one["cpu"] / (one["end"] - one["start"]) for one in sent)
    subscriber_busy = max(one["cpu"] / elapsed for one in received) if elapsed > 0 else 0.0
    return Result(delivered, args.messages * args.subscribers, elapsed, _p99_ms(latencies),
                  broker_cpu, publisher_busy, subscriber_busy)


def harper_broker(port: int, tree: str) -> subprocess.Popen:
    environment = dict(os.environ, PYTHONPATH=tree)
    return subprocess.Popen([sys.executable, "-c", BROKER, str(port)], cwd=tree, env=environment)


def mosquitto_broker(port: int, folder: str) -> subprocess.Popen:
    config = f"{folder}/mosquitto.conf"
    with open(config, "w") as file:
        # TCP_NODELAY as harper sets it: without it the raw clients' closed loop waits for
        # delayed acknowledgements.
        file.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                   f"max_inflight_messages 0\nset_tcp_nodelay true\n")
    return subprocess.Popen(["mosquitto", "-c", config], stderr=subprocess.DEVNULL)


def measure(name: str, start_broker: Callable[[int], subprocess.Popen],
            args: argparse.Namespace, spy: Optional[str] = None) -> Result:
    """
    Start a broker, run the load on it, stop it, print its line.
    """
    port = harness.free_port()
    process = start_broker(port)
    sampler = None
    try:
        wait_listening(port)
        if spy:
            sampler = subprocess.Popen(
                ["py-spy", "record", "--pid", str(process.pid), "--format", "raw", "--function",
                 "--nonblocking", "--rate", "250", "-o", spy],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        result = (run_raw if args.client == "raw" else run_paho)(port, process.pid, args)
    finally:
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
            sampler.wait()
        process.terminate()
        process.wait()
    if args.client == "raw":
        clients = f"client process {100 * result.publisher_busy:3.0f}%"
    else:
        clients = (f"busiest publisher {100 * result.publisher_busy:3.0f}%, "
                   f"subscriber process {100 * result.subscriber_busy:3.0f}%")
    print(f"{name:16} {result.rate:10,.0f} deliveries/s  p99 {result.p99_ms:8.1f} ms  "
          f"lost {result.lost:<6} broker {result.us_per_delivery:5.1f} us/delivery "
          f"{100 * result.broker_busy:4.0f}% CPU  {clients}", flush=True)
    return result


def compare(args: argparse.Namespace) -> None:
    """
    Measure harper (and an older tree's harper, and mosquitto, when there) on one load.
    """
    if args.client == "raw":
        clients = f"raw clients: 1 publisher -> {args.subscribers} subscriber(s) in 1 process"
    else:
        clients = (f"paho: {args.publishers} publisher process(es) -> {args.subscribers} "
                   f"subscriber(s) in {min(args.subscribers, args.subscriber_processes)} "
                   f"process(es)")
    print(f"{args.messages} messages of 100 bytes, QoS {args.qos}, {clients}", flush=True)
    harper = measure("harper", lambda port: harper_broker(port, harness.REPOSITORY), args,
                     args.py_spy)
    before = None
    if args.harper_tree:
        before = measure("harper (before)", lambda port: harper_broker(port, args.harper_tree),
                         args)
    mosquitto = None
    if shutil.which("mosquitto"):
        with tempfile.TemporaryDirectory() as folder:
            mosquitto = measure("mosquitto", lambda port: mosquitto_broker(port, folder), args)
    else:
        print("mosquitto is not installed: apt-get install mosquitto to compare")
    for other, name in ((mosquitto, "mosquitto"), (before, "before")):
        if other is not None and other.rate:
            cpu = harper.us_per_delivery / other.us_per_delivery
            print(f"harper / {name} = {harper.rate / other.rate:.2f} "
                  f"(broker CPU per delivery: {cpu:.2f}x {name}'s)", flush=True)
    if args.qos == 0 and args.subscribers == 1:
        print(f"harper / original's {ORIGINAL_QOS0:,} = {harper.rate / ORIGINAL_QOS0:.2f}",
              flush=True)
    if args.py_spy:
        with open(args.py_spy, encoding="utf-8") as folded:
            print(profile.summary(profile.fold(folded.readlines()),
                                  f"py-spy of harper's broker ({args.py_spy}):", 12))


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="End-to-end MQTT throughput of harper's broker, against mosquitto.")
    parser.add_argument("--messages", type=int, default=20000,
                        help="messages published (each subscriber gets every one)")
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--qos", type=int, default=0, choices=(0, 1, 2))
    parser.add_argument("--client", choices=("paho", "raw"), default="paho",
                        help="paho: paho-mqtt clients, each publisher and each group of "
                        "subscribers in a process of its own; raw: minimal socket clients in "
                        "this process that do not decode, so the broker is the limit")
    parser.add_argument("--publishers", type=int, default=1,
                        help="publisher processes, one paho client each")
    parser.add_argument("--subscriber-processes", type=int, default=5,
                        help="processes the subscribers are spread over")
    parser.add_argument("--issue7", action="store_true",
                        help="the three runs of issue 7 (QoS 0 and 1 to 1 subscriber, QoS 0 "
                        "to 50), each with paho and with raw clients; --messages, --qos, "
                        "--subscribers and --client are ignored")
    parser.add_argument("--harper-tree", metavar="PATH",
                        help="also measure the harper broker of another checkout (e.g. made "
                        "with git archive), for before/after figures in the same run")
    parser.add_argument("--py-spy", metavar="FILE",
                        help="sample harper's broker with py-spy meanwhile (raw stacks to "
                        "FILE) and print a summary")
    parser.add_argument("--role", choices=("publisher", "subscriber"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("values", nargs="*", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client == "raw" and args.qos == 2 and not args.issue7:
        parser.error("the raw clients speak QoS 0 and 1 only")
    return args


def main(argv: list[str]) -> None:
    args = parse_arguments(argv)
    if args.role == "subscriber":
        subscriber_process(args.port, *args.values)
        return
    if args.role == "publisher":
        publisher_process(args.port, *args.values)
        return
    if not args.issue7:
        compare(args)
        return
    for label, qos, subscribers, paho_messages, raw_messages in ISSUE7_RUNS:
        for client, messages in (("paho", paho_messages), ("raw", raw_messages)):
            print(f"\n== {label}, {client} clients", flush=True)
            compare(argparse.Namespace(**{**vars(args), "qos": qos, "subscribers": subscribers,
                                          "messages": messages, "client": client}))


if __name__ == "__main__":
    main(sys.argv[1:])
