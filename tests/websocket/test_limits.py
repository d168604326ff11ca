"""
Tests for the WebSocket message bound of L{harper.websocket.protocol.RealtimeFactory}
(C{http.maxWebSocketMessageSize}), over a loopback socket with Autobahn's client.
"""

from __future__ import annotations

import json

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.trial.unittest import TestCase
from twisted.web import resource

from harper.http.site import make_site
from harper.websocket.resource import RealtimeResource
from tests.mqtt.helpers import ADMIN, pause, start_runtime


class _Client(WebSocketClientProtocol):
    """
    Records the messages it receives and the close code the server sent.
    """

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.messages.append(json.loads(payload))

    def onClose(self, wasClean: bool, code: int, reason: str) -> None:
        self.factory.closed.callback(self.remoteCloseCode)


class MessageSizeTests(TestCase):
    """
    A realtime root whose WebSocket messages may have at most 1,000 bytes.
    """

    timeout = 10

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        root = RealtimeResource(resource.Resource(), self.runtime.registry, self.runtime.caller,
                                lambda authorization, address: succeed(ADMIN), max_message_size=1000)
        port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port

    def connect(self, path: str) -> WebSocketClientFactory:
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.port}{path}")
        factory.protocol = _Client
        factory.opened, factory.closed, factory.messages = Deferred(), Deferred(), []
        connector = reactor.connectTCP("127.0.0.1", self.port, factory)
        self.addCleanup(connector.disconnect)
        return factory

    @inlineCallbacks
    def test_message_too_big(self) -> None:
        """
        A client sending a message over the bound is closed with code 1009 (RFC 6455 section
        7.4.1), also when each of its frames is under it.
        """
        for fragment_size in (None, 600):
            factory = self.connect("/Dog/1")
            client = yield factory.opened
            client.sendMessage(b"x" * 1200, isBinary=True, fragmentSize=fragment_size)
            code = yield factory.closed
            self.assertEqual(code, 1009)

    @inlineCallbacks
    def test_event_too_big(self) -> None:
        """
        An event over the bound closes its subscriber's WebSocket with 1009; the other
        subscribers keep receiving.
        """
        small, big = self.connect("/Dog/1"), self.connect("/Dog/2")
        yield small.opened
        yield big.opened
        yield self.runtime.tables.Dog.put(2, {"name": "x" * 2000})
        code = yield big.closed
        self.assertEqual(code, 1009)
        yield self.runtime.tables.Dog.put(1, {"name": "Rex"})
        for _ in range(250):
            if small.messages:
                break
            yield pause(0.02)
        self.assertEqual(small.messages[-1]["value"], {"id": 1, "name": "Rex"})
