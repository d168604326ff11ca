"""
Slow consumers of WebSocket and Server-Sent Events subscriptions, over real sockets: a client
that stops reading is disconnected once the daemon holds C{http.maxQueuedMessages} events for
it, while a client that reads keeps receiving every event.
"""

from __future__ import annotations

import socket
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import defer, reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from harper.http.site import make_site
from harper.pubsub.slow import DISCONNECT
from harper.websocket.resource import RealtimeResource
from tests.mqtt.helpers import start_runtime
from tests.websocket.test_resource import _BASIC, Fallback, Recorder, authenticate

_EVENTS = 400
_NAME = "x" * 40000


def stalled_request(port: int, request: bytes) -> socket.socket:
    """
    A client with a tiny receive buffer that sends C{request}, reads the response head, and
    then never reads again (blocking: run it in a thread).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 20.0) -> int:
    """
    Read everything until the server closes (or resets) the connection; return the byte
    count (blocking).

    :raises socket.timeout: the server kept the connection open for C{timeout} seconds.
    """
    sock.settimeout(timeout)
    total = 0
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return total
        if not data:
            return total
        total += len(data)


class SlowConsumerTests(TestCase):
    """
    WebSocket and event-stream subscribers of C{/Dog/}, one of each stalled, with
    C{http.maxQueuedMessages: 50} and C{http.slowConsumer: disconnect}.
    """

    timeout = 60

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        root = RealtimeResource(Fallback(), self.runtime.registry, self.runtime.caller,
                                authenticate, slow_consumers=(50, DISCONNECT))
        port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port

    def stalled(self, request: str) -> Deferred:
        """
        Fire with a stalled client of C{request} (its C{{auth}} and C{{port}} filled in).
        """
        text = request.format(auth=_BASIC, port=self.port).replace("\n", "\r\n") + "\r\n"
        d = deferToThread(stalled_request, self.port, text.encode("ascii"))
        return d.addCallback(lambda sock: (self.addCleanup(sock.close), sock)[1])

    @defer.inlineCallbacks
    def test_stalled_clients_disconnected(self) -> Any:
        """
        400 events of 40 kB: the stalled WebSocket and event-stream clients are disconnected
        long before they could have received them all, the reading WebSocket client gets all
        400.
        """
        fast = WebSocketClientFactory(f"ws://127.0.0.1:{self.port}/Dog/",
                                      headers={"Authorization": _BASIC})
        fast.protocol = Recorder
        fast.messages, fast.waiting, fast.opened, fast.closed = [], [], Deferred(), Deferred()
        connector = reactor.connectTCP("127.0.0.1", self.port, fast)
        self.addCleanup(connector.disconnect)
        yield fast.opened
        websocket = yield self.stalled(
            "GET /Dog/ HTTP/1.1\nHost: 127.0.0.1:{port}\nUpgrade: websocket\nConnection: Upgrade\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n"
            "Authorization: {auth}\n")
        events = yield self.stalled(
            "GET /Dog/ HTTP/1.1\nHost: 127.0.0.1:{port}\nAccept: text/event-stream\n"
            "Authorization: {auth}\n")
        dogs = self.runtime.tables.Dog
        # Bursts of 10 events, each once the reading client has the ones before: it keeps
        # up, while the stalled clients fall behind by more than 50 events.
        deadline = reactor.seconds() + 30
        for first in range(0, _EVENTS, 10):
            yield defer.gatherResults([dogs.put(n, {"name": _NAME})
                                       for n in range(first, first + 10)])
            while len(fast.messages) < first + 10 and reactor.seconds() < deadline:
                yield deferLater(reactor, 0.005, lambda: None)
        self.assertEqual(len(fast.messages), _EVENTS)
        for sock in (websocket, events):
            received = yield deferToThread(read_until_closed, sock)
            self.assertLess(received, _EVENTS * len(_NAME) / 2)

