"""
Slow consumers over real sockets: a client that stops reading is disconnected (or its QoS 0
messages are dropped) while another client keeps receiving everything, and what the daemon
buffers for the slow one stays bounded.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.errors import ConfigError
from harper.mqtt.codec import MQTTDecoder, encode
from harper.mqtt.message import Message
from harper.mqtt.packets import MQTT_5, Connect, Subscribe, SubscriptionOptions
from harper.mqtt.service import build_broker
from harper.mqtt.session import SessionSettings
from harper.pubsub.slow import DISCONNECT, DROP
from tests.mqtt.helpers import V5, Client, serve, start_runtime

#: Bytes Twisted buffers for a TCP connection before it pauses its producer.
_TRANSPORT_BUFFER = 65536

_BUDGET = 65536
_MESSAGES = 2000
_PAYLOAD = b"x" * 1000


def buffered(transport: Any) -> int:
    """
    The bytes a Twisted TCP transport holds in memory, not yet written to the socket.
    """
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def stalled_client(port: int, client_id: str, topic_filter: str) -> socket.socket:
    """
    A client with a tiny receive buffer that connects, subscribes with QoS 0, reads the
    CONNACK and SUBACK, and then never reads again (blocking: run it in a thread).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(encode(Connect(client_id, keep_alive=0), MQTT_5)
                 + encode(Subscribe(1, [(topic_filter, SubscriptionOptions(0))]), MQTT_5))
    decoder, packets = MQTTDecoder(MQTT_5), []
    while len(packets) < 2:
        packets += decoder.feed(sock.recv(4096))
    return sock


class SlowConsumerTests(TestCase):
    """
    One publisher floods a topic with 2,000 messages of 1,000 bytes; one subscriber stalls.
    """

    timeout = 60

    @defer.inlineCallbacks
    def flood(self, policy: str) -> Any:
        """
        Run the flood under C{policy}; fire with the stalled client's session (after the
        flood), the fast client's message count and the most the daemon buffered for the
        stalled client.
        """
        settings = SessionSettings(max_queued=10, max_queued_bytes=_BUDGET, slow_consumer=policy)
        broker, port, _ = serve(self, settings=settings)
        fast = Client(self, port, "fast", V5)
        yield fast.connect()
        yield fast.subscribe("flood", qos=0)
        stalled = yield deferToThread(stalled_client, port, "stalled", "flood")
        self.addCleanup(stalled.close)
        session = broker.sessions["stalled"].connection
        transport = session.connection.transport
        # A small kernel buffer on the server side too: the daemon's own buffer fills fast.
        transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        most = 0
        for start in range(0, _MESSAGES, 50):
            for _ in range(50):
                broker.publish_as(None, Message("flood", _PAYLOAD), None)
            if session.state is not None and session.state.connection is session:
                most = max(most, buffered(transport))
            # The reading client keeps up (on a loaded machine too); the stalled one does not.
            yield fast.wait_for(start + 50, timeout=30)
        return session, len(fast.messages), most

    @defer.inlineCallbacks
    def test_disconnect(self) -> Any:
        """
        With C{mqtt.slowConsumer: disconnect}, the stalled client is disconnected once its
        budget is spent; the other client gets every message; the daemon never buffered more
        than the transport's buffer plus the budget for it.
        """
        session, received, most = yield self.flood(DISCONNECT)
        self.assertEqual(received, _MESSAGES)
        self.assertTrue(session.connection.transport.disconnected or
                        session.connection.transport.disconnecting)
        self.assertLessEqual(most, _TRANSPORT_BUFFER + _BUDGET + 2 * len(_PAYLOAD))
        self.assertGreater(most, _TRANSPORT_BUFFER)

    @defer.inlineCallbacks
    def test_drop(self) -> Any:
        """
        With C{mqtt.slowConsumer: drop}, the stalled client stays connected and its QoS 0
        messages past the budget are dropped; the other client gets every message; the
        daemon's buffer for the stalled client stays bounded.
        """
        session, received, most = yield self.flood(DROP)
        self.assertEqual(received, _MESSAGES)
        self.assertIs(session.state.connection, session)
        self.assertLessEqual(most, _TRANSPORT_BUFFER + _BUDGET + 2 * len(_PAYLOAD))
        self.assertGreater(most, _TRANSPORT_BUFFER)


class ConfigTests(TestCase):
    """
    The slow-consumer keys of the configuration reach the broker's sessions.
    """

    def test_keys(self) -> None:
        """
        C{mqtt.maxQueuedMessages}, C{mqtt.maxQueuedBytes} and C{mqtt.slowConsumer} become the
        broker's session settings; a policy other than C{drop} or C{disconnect} is refused.
        """
        runtime = start_runtime(self, config="mqtt: {maxQueuedMessages: 5, maxQueuedBytes: 100, "
                                             "slowConsumer: Disconnect}\n")
        settings = build_broker(runtime, reactor).settings
        self.assertEqual((settings.max_queued, settings.max_queued_bytes, settings.slow_consumer),
                         (5, 100, DISCONNECT))
        with self.assertRaises(ConfigError) as raised:
            config_from_string("mqtt: {slowConsumer: wait}\n", base_dir=".", root=self.mktemp(),
                               environ={})
        self.assertIn("mqtt.slowConsumer", str(raised.exception))
