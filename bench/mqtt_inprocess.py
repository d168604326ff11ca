"""
The CPU time harper's broker spends per MQTT message, measured in process: a broker with
plain topics, one publisher and N subscribers connected over C{StringTransport}s (no
sockets, no client code in the measure), a stream of 100-byte PUBLISH packets fed to the
publisher's protocol in socket-sized chunks, and the subscribers' PUBACKs fed back for QoS 1.
Only the calls into the protocols are timed.

    python bench/mqtt_inprocess.py [--messages 50000] [--subscribers 1] [--qos 0]
                                   [--profile FILE]

With C{--profile}, the timed calls run under cProfile and its statistics go to FILE (and the
top functions are printed).
"""

from __future__ import annotations

import os
import sys

# The checkout, not bench/ (whose profile.py would hide the standard library's).
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from harper.mqtt.broker import Broker  # noqa: E402
from harper.mqtt.codec import MQTTDecoder, encode  # noqa: E402
from harper.mqtt.packets import (  # noqa: E402
    MQTT_3_1_1, Connect, PubAck, Publish, Subscribe, SubscriptionOptions,
)
from harper.mqtt.protocol import MQTTFactory  # noqa: E402

#: Bytes handed to the publisher's protocol per call, like one socket read.
CHUNK = 65536


class Timed:
    """
    Accumulates the CPU time of the calls it runs (under a profiler when given one).
    """

    def __init__(self, profiler: Any = None) -> None:
        self.seconds = 0.0
        self._profiler = profiler

    def __call__(self, function: Any, *args: Any) -> None:
        start = time.process_time()
        if self._profiler is not None:
            self._profiler.runcall(function, *args)
        else:
            function(*args)
        self.seconds += time.process_time() - start


def connect(factory: MQTTFactory, client_id: str) -> tuple[Any, StringTransport]:
    """
    A protocol of C{factory} connected as MQTT 3.1.1 client C{client_id}, and its transport.
    """
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(encode(Connect(client_id, clean_start=True,
                                          protocol_level=MQTT_3_1_1), MQTT_3_1_1))
    return protocol, transport


def run(messages: int, subscribers: int, qos: int, profile: str | None) -> float:
    """
    Return the broker's CPU microseconds per published message.
    """
    clock = Clock()
    factory = MQTTFactory(Broker(clock, require_authentication=False), clock)
    receivers = []
    for index in range(subscribers):
        protocol, transport = connect(factory, f"sub-{index}")
        protocol.dataReceived(encode(Subscribe(1, [("bench/#", SubscriptionOptions(qos))]),
                                     MQTT_3_1_1))
        transport.clear()
        receivers.append((protocol, transport, MQTTDecoder(MQTT_3_1_1)))
    publisher, publisher_transport = connect(factory, "pub")
    payload = b"x" * 100
    stream = b"".join(encode(Publish("bench/topic", payload, qos, packet_id=(n % 65535) + 1
                                     if qos else None), MQTT_3_1_1) for n in range(messages))
    profiler = cProfile.Profile() if profile else None
    timed = Timed(profiler)
    delivered = 0
    for offset in range(0, len(stream), CHUNK):
        timed(publisher.dataReceived, stream[offset:offset + CHUNK])
        publisher_transport.clear()
        for protocol, transport, decoder in receivers:
            packets = decoder.feed(transport.value())
            transport.clear()
            delivered += len(packets)
            if qos:
                acks = b"".join(encode(PubAck(packet.packet_id), MQTT_3_1_1) for packet in packets)
                timed(protocol.dataReceived, acks)
    if delivered != messages * subscribers:
        raise SystemExit(f"delivered {delivered} of {messages * subscribers}")
    if profiler is not None:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return 1e6 * timed.seconds / messages


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description="The CPU time harper's MQTT broker spends per message, in process.")
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--qos", type=int, default=0, choices=(0, 1))
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args(argv)
    best = min(run(args.messages, args.subscribers, args.qos, args.profile)
               for _ in range(1 if args.profile else 3))
    print(f"QoS {args.qos}, 1 -> {args.subscribers}: {best:.2f} us of broker CPU per message "
          f"published ({best / args.subscribers:.2f} us per delivery), best of 3")


if __name__ == "__main__":
    main(sys.argv[1:])
