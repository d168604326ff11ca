"""
Micro-benchmark of the MQTT codec: packets per second for encoding and for decoding a stream
of QoS 0 PUBLISH packets with 100-byte payloads, at both protocol levels.

Run it with C{python bench/mqtt_codec.py [count]}.
"""

from __future__ import annotations

import sys
import time

from harper.mqtt.codec import MQTTDecoder, encode
from harper.mqtt.packets import MQTT_3_1_1, MQTT_5, Publish

#: Bytes handed to the decoder per call, like one socket read.
CHUNK = 65536


def bench_encode(packet: Publish, level: int, count: int) -> float:
    """
    Return how many times per second C{packet} is encoded.
    """
    start = time.perf_counter()
    for _ in range(count):
        encode(packet, level)
    return count / (time.perf_counter() - start)


def bench_decode(packet: Publish, level: int, count: int) -> float:
    """
    Return how many packets per second a decoder reads from a stream of C{count} copies of
    C{packet} fed in socket-sized chunks.
    """
    stream = encode(packet, level) * count
    decoder = MQTTDecoder(protocol_level=level)
    decoded = 0
    start = time.perf_counter()
    for offset in range(0, len(stream), CHUNK):
        decoded += len(decoder.feed(stream[offset:offset + CHUNK]))
    elapsed = time.perf_counter() - start
    assert decoded == count, decoded
    return count / elapsed


def main(count: int) -> None:
    packet = Publish("sensors/building-1/floor-2/temperature", b"x" * 100)
    for level, name in ((MQTT_3_1_1, "MQTT 3.1.1"), (MQTT_5, "MQTT 5")):
        print(f"{name}: encode {bench_encode(packet, level, count):,.0f} packets/s, "
              f"decode {bench_decode(packet, level, count):,.0f} packets/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
