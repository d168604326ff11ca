"""
End-to-end tests of L{harper.websocket.resource.RealtimeResource} over loopback sockets:
WebSocket subscriptions with Autobahn's client, event streams with treq, and MQTT over
WebSocket with paho-mqtt.
"""

from __future__ import annotations

import base64
import json

import cbor2
import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, reactor
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import TestCase
from twisted.web import resource

from harper.http.site import make_site
from harper.mqtt.websocket import MQTTWebSocketChannel
from harper.websocket.resource import RealtimeResource
from harper.websocket.sse import format_event
from harper.database.events import ChangeEvent
from tests.mqtt.helpers import ADMIN, Client, V5, serve, start_runtime

_BASIC = "Basic " + base64.b64encode(b"admin:secret").decode("ascii")


def authenticate(authorization, address):
    """
    The test authenticator: C{admin:secret} in Basic is the administrator.
    """
    return succeed(ADMIN if authorization == _BASIC else None)


class Fallback(resource.Resource):
    """
    Stands for the REST root: answers every other request with C{fallback}.
    """

    isLeaf = True

    def render(self, request):
        return b"fallback"


class Recorder(WebSocketClientProtocol):
    """
    A WebSocket client that records messages and the close code.
    """

    def onOpen(self):
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):
        self.factory.messages.append((payload, isBinary))
        waiting, self.factory.waiting = self.factory.waiting, []
        for count, d in waiting:
            if len(self.factory.messages) >= count:
                d.callback(list(self.factory.messages))
            else:
                self.factory.waiting.append((count, d))

    def onClose(self, wasClean, code, reason):
        self.factory.closed.callback((code, reason))


class RealtimeTests(TestCase):
    """
    Real-time requests on the HTTP port.
    """

    timeout = 10

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        self.broker, self.mqtt_port, _ = serve(self, self.runtime)
        root = RealtimeResource(Fallback(), self.runtime.registry, self.runtime.caller, authenticate,
                                mqtt=MQTTWebSocketChannel.factory(self.broker))
        port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port
        self.dogs = self.runtime.tables.Dog

    def websocket(self, path: str, headers=None) -> WebSocketClientFactory:
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.port}{path}", headers={"Authorization": _BASIC} if headers is None else headers)
        factory.protocol = Recorder
        factory.messages, factory.waiting = [], []
        factory.opened, factory.closed = Deferred(), Deferred()
        connector = reactor.connectTCP("127.0.0.1", self.port, factory)
        self.addCleanup(connector.disconnect)
        return factory

    def wait_for(self, factory, count: int) -> Deferred:
        if len(factory.messages) >= count:
            return succeed(list(factory.messages))
        d = Deferred()
        factory.waiting.append((count, d))
        return d.addTimeout(5, reactor)

    @defer.inlineCallbacks
    def test_websocket_record(self) -> None:
        """
        A WebSocket on C{/Dog/1} gets the current record first, then each change, as JSON
        event objects.
        """
        yield self.dogs.put(1, {"name": "Rex"})
        factory = self.websocket("/Dog/1")
        yield factory.opened
        yield self.wait_for(factory, 1)
        yield self.dogs.put(1, {"name": "Rex", "age": 2})
        yield self.dogs.delete(1)
        messages = yield self.wait_for(factory, 3)
        events = [json.loads(payload) for payload, binary in messages]
        self.assertEqual([(e["type"], e["id"]) for e in events], [("put", 1), ("put", 1), ("delete", 1)])
        self.assertEqual(events[1]["value"], {"id": 1, "name": "Rex", "age": 2})
        self.assertFalse(any(binary for _, binary in messages))

    @defer.inlineCallbacks
    def test_websocket_table_cbor(self) -> None:
        """
        A WebSocket on C{/Dog/} gets every record's changes; with C{Accept} CBOR they come in
        binary CBOR messages.
        """
        factory = self.websocket("/Dog/", {"Authorization": _BASIC, "Accept": "application/cbor"})
        yield factory.opened
        yield self.dogs.put(1, {"name": "Rex"})
        yield self.dogs.put(2, {"name": "Max"})
        messages = yield self.wait_for(factory, 2)
        self.assertEqual([cbor2.loads(payload)["id"] for payload, _ in messages], [1, 2])
        self.assertTrue(all(binary for _, binary in messages))

    @defer.inlineCallbacks
    def test_websocket_refusals(self) -> None:
        """
        Without credentials the socket closes with 3000 (401); on a path with no resource
        with 1011.
        """
        anonymous = self.websocket("/Dog/1", {})
        code, _ = yield anonymous.closed
        self.assertEqual(code, 3000)
        missing = self.websocket("/Cat/1")
        code, reason = yield missing.closed
        self.assertEqual(code, 1011)
        self.assertIn("no resource", reason)

    @defer.inlineCallbacks
    def test_event_stream(self) -> None:
        """
        C{Accept: text/event-stream} on a record path streams its events; other requests go
        to the wrapped root.
        """
        yield self.dogs.put(4, {"name": "Rex"})
        chunks = []
        arrived = Deferred()

        def collect(data: bytes) -> None:
            chunks.append(data)
            if b"event: delete" in b"".join(chunks) and not arrived.called:
                arrived.callback(b"".join(chunks))

        response = yield treq.get(f"http://127.0.0.1:{self.port}/Dog/4",
                                  headers={"Accept": "text/event-stream", "Authorization": _BASIC},
                                  unbuffered=True, persistent=False)
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["text/event-stream"])
        finished = treq.collect(response, collect)
        yield self.dogs.delete(4)
        text = yield arrived.addTimeout(5, reactor)
        self.assertIn(b'event: put\ndata: {"name":"Rex","id":4}\nid: ', text)
        response.original._transport.loseConnection()
        yield finished.addErrback(lambda _: None)
        plain = yield treq.get(f"http://127.0.0.1:{self.port}/Dog/4", persistent=False)
        body = yield plain.content()
        self.assertEqual(body, b"fallback")

    @defer.inlineCallbacks
    def test_event_stream_refused(self) -> None:
        """
        An event stream without credentials on a table is refused with 401.
        """
        response = yield treq.get(f"http://127.0.0.1:{self.port}/Dog/4", headers={"Accept": "text/event-stream"}, persistent=False)
        self.assertEqual(response.code, 401)
        body = yield response.json()
        self.assertIn("authentication", body["error"])

    @defer.inlineCallbacks
    def test_mqtt_over_websocket(self) -> None:
        """
        A client offering the C{mqtt} subprotocol speaks MQTT with the broker: it gets the
        messages of a TCP client and the changes of records.
        """
        web = Client(self, self.port, "web", V5, "admin")
        web.client._transport = "websockets"
        web.client.ws_set_options(path="/mqtt")
        yield web.connect()
        yield web.subscribe("Dog/+")
        yield web.subscribe("chat")
        tcp = Client(self, self.mqtt_port, "tcp", V5, "admin")
        yield tcp.connect()
        yield tcp.publish("chat", b"hello", 1)
        yield self.dogs.put(6, {"name": "Bo"})
        messages = yield web.wait_for(2)
        self.assertEqual(sorted(m[0] for m in messages), ["Dog/6", "chat"])


class FormatTests(TestCase):
    """
    The text/event-stream format.
    """

    def test_formats(self) -> None:
        """
        Table changes carry event, data and id; mappings with event-stream fields are written
        field by field; other values as data; multi-line text as several data lines.
        """
        change = ChangeEvent("data", "Dog", 1, "put", {"a": 1}, 5.0)
        self.assertEqual(format_event(change), b'event: put\ndata: {"a":1}\nid: 5.0\n\n')
        self.assertEqual(format_event({"event": "tick", "data": "a\nb", "retry": 10}),
                         b"event: tick\nretry: 10\ndata: a\ndata: b\n\n")
        self.assertEqual(format_event([1, 2]), b"data: [1,2]\n\n")
