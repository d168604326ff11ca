"""
WebSocket fan-out of table changes, run by C{bench/cluster.py} against a running harper:
C{subscribers} Autobahn clients subscribe to C{/Dog/}, then PUTs of new dogs are sent at
C{rate} per second, and every client notes when each change reaches it.

    python bench/ws_fanout.py PORT SUBSCRIBERS WRITES RATE

Prints one line C{WS_RESULT {json}}: deliveries expected and received, deliveries per
second, and p50/p99 in ms from sending the PUT to the message at a subscriber.
"""

from __future__ import annotations

import json
import sys
import time

import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor, task

_FIRST_KEY = 2_000_001
_DRAIN_SECONDS = 10.0


def _stop() -> None:
    if reactor.running:
        reactor.stop()


class Run:
    """
    The state of one fan-out run: when each write was sent, and the arrival latencies.
    """

    def __init__(self, port: int, subscribers: int, writes: int, rate: float) -> None:
        self.port, self.subscribers, self.writes, self.rate = port, subscribers, writes, rate
        self.open = 0
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.started = 0.0
        self.last = 0.0

    def opened(self) -> None:
        self.open += 1
        if self.open == self.subscribers:
            reactor.callLater(0.5, self.write)

    def arrived(self, payload: bytes) -> None:
        now = time.perf_counter()
        sent = self.sent.get(str(json.loads(payload).get("id")))
        if sent is not None:
            self.latencies.append(now - sent)
            self.last = now
            if len(self.latencies) == self.subscribers * self.writes:
                _stop()

    def write(self) -> None:
        keys = iter(range(_FIRST_KEY, _FIRST_KEY + self.writes))
        self.started = time.perf_counter()

        def put_next() -> None:
            key = next(keys, None)
            if key is None:
                loop.stop()
                reactor.callLater(_DRAIN_SECONDS, _stop)
                return
            self.sent[str(key)] = time.perf_counter()
            body = {"name": f"Dog {key}", "breedId": 1, "age": 3}
            treq.put(f"http://127.0.0.1:{self.port}/Dog/{key}", json=body).addCallback(
                treq.content
            )

        loop = task.LoopingCall(put_next)
        loop.start(1.0 / self.rate)

    def result(self) -> dict:
        ordered = sorted(self.latencies)

        def pick(share: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000

        elapsed = (self.last - self.started) if ordered else 0.0
        return {
            "expected": self.subscribers * self.writes,
            "received": len(ordered),
            "rate": len(ordered) / elapsed if elapsed else 0.0,
            "p50_ms": pick(0.5) if ordered else None,
            "p99_ms": pick(0.99) if ordered else None,
        }


def main(argv: list[str]) -> None:
    port, subscribers, writes, rate = int(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    run = Run(port, subscribers, writes, rate)

    class Subscriber(WebSocketClientProtocol):
        def onOpen(self) -> None:
            run.opened()

        def onMessage(self, payload: bytes, is_binary: bool) -> None:
            run.arrived(payload)

    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/Dog/")
    factory.protocol = Subscriber
    for _ in range(subscribers):
        reactor.connectTCP("127.0.0.1", port, factory)
    reactor.callLater(60 + writes / rate, _stop)
    reactor.run()
    print("WS_RESULT " + json.dumps(run.result()))


if __name__ == "__main__":
    main(sys.argv[1:])
