"""
End-to-end tests of the real-time interfaces of a real C{twistd harper} daemon on loopback
ports, with independent clients: paho-mqtt, Autobahn's WebSocket client, a plain socket
reading Server-Sent Events and plain HTTP requests; and the broker's state across a daemon
restart.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import tempfile
import time
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from tests.mqtt.helpers import V5, Client, properties
from tests.service.helpers import (
    DEADLINE, TWISTD, daemon_arguments, free_port, start_process, stop_process,
    wait_until_listening, write_tree,
)

APPLICATION = {
    "schema.graphql": "type Dog @table @export {\n  id: ID @primaryKey\n  name: String!\n"
                      "  age: Int\n}\n",
    "config.yaml": "rest: true\ngraphqlSchema: {files: '*.graphql'}\n",
}

_AUTHORIZATION = "Basic " + base64.b64encode(b"admin:secret").decode("ascii")
_log = Logger()


class _Subscriber(WebSocketClientProtocol):
    """
    A WebSocket client that keeps each message with the C{time.monotonic()} it arrived at.
    """

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.messages.append((time.monotonic(), json.loads(payload)))


def _http(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
    """
    One JSON request (blocking); the status, the decoded body and the C{time.monotonic()} at
    which it was sent.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sent = time.monotonic()
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers={"Content-Type": "application/json",
                                    "Accept": "application/json"})
        response = connection.getresponse()
        content = response.read()
        return response.status, json.loads(content) if content else None, sent
    finally:
        connection.close()


def _read_events(port: int, path: str, count: int, ready: Any) -> list[tuple[float, str]]:
    """
    Open an event stream on C{path}, call C{ready()} once it is open, and return the
    C{time.monotonic()} and C{event:} line of the first C{count} events (blocking).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     f"Authorization: {_AUTHORIZATION}\r\n\r\n".encode("ascii"))
        buffer, events = b"", []
        while len(events) < count:
            data = sock.recv(65536)
            if not data:
                raise AssertionError(f"the event stream ended after {events}")
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                if line == b": subscribed":
                    reactor.callFromThread(ready)
                elif line.startswith(b"event: "):
                    events.append((time.monotonic(), line.decode("ascii")))
        return events[:count]
    finally:
        sock.close()


class DaemonTests(TestCase):
    """
    A daemon serving the C{Dog} table over REST, WebSocket, SSE and MQTT, with an
    administrator C{admin}/C{secret}.
    """

    timeout = 120

    @inlineCallbacks
    def setUp(self) -> Any:
        self.root = tempfile.mkdtemp(prefix="harper-rt-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.application = write_tree(self, APPLICATION)
        yield self.start()

    @inlineCallbacks
    def start(self) -> Any:
        """
        Start the daemon over C{self.root} and wait until both ports listen.
        """
        self.patch(os, "environ", dict(os.environ, HARPER_ADMIN_USERNAME="admin",
                                       HARPER_ADMIN_PASSWORD="secret"))
        arguments = daemon_arguments(self.root, self.http_port, "--app", self.application,
                                     "--set", f"mqtt.port={self.mqtt_port}")
        self.daemon = start_process(self, TWISTD, arguments)
        yield wait_until_listening(self.daemon, self.http_port)
        yield wait_until_listening(self.daemon, self.mqtt_port)

    def request(self, method: str, path: str, body: Any = None) -> Deferred:
        return deferToThread(_http, self.http_port, method, path, body)

    def client(self, client_id: str) -> Client:
        return Client(self, self.mqtt_port, client_id, V5, "admin")

    @inlineCallbacks
    def websocket(self, path: str) -> Any:
        """
        Fire with the factory of a WebSocket subscription (its C{messages} fill up).
        """
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.http_port}{path}",
                                         headers={"Authorization": _AUTHORIZATION})
        factory.protocol = _Subscriber
        factory.messages, factory.opened = [], Deferred()
        connector = reactor.connectTCP("127.0.0.1", self.http_port, factory)
        self.addCleanup(connector.disconnect)
        yield factory.opened.addTimeout(DEADLINE, reactor)
        return factory

    @inlineCallbacks
    def test_rest_write_reaches_every_transport(self) -> Any:
        """
        A REST PUT reaches an MQTT subscriber, a WebSocket subscriber and an event stream;
        each arrival is measured from the moment the request was sent (logged; the bound
        asserted is lenient, the machine is shared).
        """
        status, _, _ = yield self.request("PUT", "/Dog/rex", {"name": "Rex"})
        self.assertEqual(status, 204)
        mqtt = self.client("watcher")
        yield mqtt.connect()
        yield mqtt.subscribe("Dog/rex")
        yield mqtt.wait_for(1)
        websocket = yield self.websocket("/Dog/rex")
        opened = Deferred()
        events = deferToThread(_read_events, self.http_port, "/Dog/rex", 2,
                               lambda: opened.callback(None))
        yield opened.addTimeout(DEADLINE, reactor)
        yield deferLater(reactor, 0.2, lambda: None)
        status, _, sent = yield self.request("PUT", "/Dog/rex", {"name": "Rex", "age": 4})
        self.assertEqual(status, 204)
        arrivals = {}
        messages = yield mqtt.wait_for(2)
        self.assertEqual(json.loads(messages[1][1]), {"id": "rex", "name": "Rex", "age": 4})
        arrivals["mqtt"] = mqtt.arrivals[1]
        deadline = reactor.seconds() + DEADLINE
        while len(websocket.messages) < 2 and reactor.seconds() < deadline:
            yield deferLater(reactor, 0.005, lambda: None)
        arrival, event = websocket.messages[1]
        self.assertEqual((event["type"], event["value"]["age"]), ("put", 4))
        arrivals["websocket"] = arrival
        streamed = yield events
        self.assertEqual(streamed[1][1], "event: put")
        arrivals["sse"] = streamed[1][0]
        latencies = {name: round((arrival - sent) * 1000, 1) for name, arrival in arrivals.items()}
        _log.info("REST write to arrival, ms: {latencies}", latencies=latencies)
        print(f"\nREST PUT -> arrival latency (ms): {latencies}")
        for latency in latencies.values():
            self.assertLess(latency, 1000)

    @inlineCallbacks
    def test_mqtt_publish_then_rest_read(self) -> Any:
        """
        A retained QoS 1 PUBLISH to C{Dog/7} is acknowledged once stored; a REST GET reads it.
        """
        client = self.client("writer")
        yield client.connect()
        code = yield client.publish("Dog/7", b'{"name": "Fido", "age": 2}', 1, retain=True)
        self.assertEqual(code, 0)
        status, record, _ = yield self.request("GET", "/Dog/7")
        self.assertEqual((status, record), (200, {"id": "7", "name": "Fido", "age": 2}))

    @inlineCallbacks
    def test_restart(self) -> Any:
        """
        Across a daemon restart: a persistent session gets the QoS 1 message queued while it
        was away, and the will (4 second delay) of a client that dropped its connection just
        before the restart is published after the restart, not before, and reaches a
        persistent subscriber.
        """
        from paho.mqtt.packettypes import PacketTypes

        expiry = properties(PacketTypes.CONNECT, SessionExpiryInterval=300)
        watcher = self.client("watcher")
        yield watcher.connect(clean=False, properties=expiry)
        yield watcher.subscribe("status/#", qos=1)
        keeper = self.client("keeper")
        yield keeper.connect(clean=False, properties=expiry)
        yield keeper.subscribe("news", qos=1)
        yield keeper.disconnect()
        dying = self.client("dying")
        dying.client.will_set("status/dying", b"gone", 1, False,
                              properties(PacketTypes.WILLMESSAGE, WillDelayInterval=4))
        yield dying.connect(clean=False, properties=expiry)
        yield dying.drop()
        dropped = time.monotonic()
        publisher = self.client("publisher")
        yield publisher.connect()
        yield publisher.publish("news", b"while away", 1)
        yield publisher.disconnect()
        self.assertEqual(watcher.messages, [])
        yield stop_process(self.daemon)
        yield self.start()
        again = self.client("keeper")
        flags, _, _ = yield again.connect(clean=False, properties=expiry)
        self.assertTrue(flags.session_present)
        messages = yield again.wait_for(1, timeout=DEADLINE)
        self.assertEqual(messages[0][:3], ("news", b"while away", 1))
        watcher = self.client("watcher")
        yield watcher.connect(clean=False, properties=expiry)
        messages = yield watcher.wait_for(1, timeout=DEADLINE)
        self.assertEqual(messages[0][:2], ("status/dying", b"gone"))
        self.assertGreater(watcher.arrivals[0] - dropped, 3.5)
