"""
End-to-end MQTT benchmark: one paho-mqtt publisher sends QoS 0 messages to N paho-mqtt
subscribers through a broker; prints messages/s delivered and the p99 latency.

The harper broker runs in a child process (plain topics, no database). When Debian's
C{mosquitto} is on the PATH it runs the same load against it and prints the ratio.

    python bench/mqtt_throughput.py [--messages 20000] [--subscribers 1] [--qos 0]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

BROKER = """
import sys
from twisted.internet import reactor
from harper.mqtt.broker import Broker
from harper.mqtt.protocol import MQTTFactory
broker = Broker(reactor, require_authentication=False)
reactor.listenTCP(int(sys.argv[1]), MQTTFactory(broker, reactor), interface="127.0.0.1")
reactor.run()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no broker on port {port}")


class Subscriber:
    def __init__(self, port: int, index: int, qos: int, expected: int) -> None:
        self.expected = expected
        self.latencies: list[float] = []
        self.done = threading.Event()
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{index}")
        self.client.on_message = self.on_message
        self.client.on_subscribe = lambda *args: self.ready.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("bench/#", qos)

    def on_message(self, client, userdata, message) -> None:
        sent = struct.unpack_from("!d", message.payload)[0]
        self.latencies.append(time.perf_counter() - sent)
        if len(self.latencies) >= self.expected:
            self.done.set()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_load(port: int, messages: int, subscribers: int, qos: int) -> tuple[float, float, int]:
    """
    Return (messages delivered per second, p99 latency in ms, messages lost).
    """
    subs = [Subscriber(port, index, qos, messages) for index in range(subscribers)]
    for sub in subs:
        sub.ready.wait(10)
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub")
    publisher.max_queued_messages_set(0)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    padding = b"x" * 92
    start = time.perf_counter()
    for _ in range(messages):
        publisher.publish("bench/topic", struct.pack("!d", time.perf_counter()) + padding, qos)
    for sub in subs:
        sub.done.wait(max(10.0, messages / 2000))
    elapsed = time.perf_counter() - start
    publisher.disconnect()
    publisher.loop_stop()
    latencies = sorted(latency for sub in subs for latency in sub.latencies)
    delivered = len(latencies)
    for sub in subs:
        sub.stop()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return delivered / elapsed, p99, messages * subscribers - delivered


def harper_broker(port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BROKER, str(port)])


def mosquitto_broker(port: int, folder: str) -> subprocess.Popen:
    config = f"{folder}/mosquitto.conf"
    with open(config, "w") as file:
        file.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    return subprocess.Popen(["mosquitto", "-c", config], stderr=subprocess.DEVNULL)


def measure(name: str, start_broker, args: argparse.Namespace) -> float:
    port = free_port()
    process = start_broker(port)
    try:
        wait_listening(port)
        rate, p99, lost = run_load(port, args.messages, args.subscribers, args.qos)
    finally:
        process.terminate()
        process.wait()
    print(f"{name:10} {rate:10,.0f} msg/s delivered   p99 {p99:8.2f} ms   lost {lost}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--qos", type=int, default=0, choices=(0, 1, 2))
    args = parser.parse_args()
    print(f"{args.messages} messages of 100 bytes, QoS {args.qos}, 1 publisher, "
          f"{args.subscribers} subscriber(s)")
    harper = measure("harper", harper_broker, args)
    if shutil.which("mosquitto"):
        with tempfile.TemporaryDirectory() as folder:
            mosquitto = measure("mosquitto", lambda port: mosquitto_broker(port, folder), args)
        print(f"harper / mosquitto = {harper / mosquitto:.2f}")
    else:
        print("mosquitto is not installed: apt-get install mosquitto to compare")


if __name__ == "__main__":
    main()
