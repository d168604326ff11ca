"""
Tests for L{harper.replication.server}: who may replicate with a node, and what the listener
does with conversations that are not replication.
"""

from __future__ import annotations

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.trial.unittest import TestCase

from harper.replication.peer import basic_authorization
from harper.replication.server import PeerCheck
from harper.replication.wire import Ack, Refused, Subscribe, decode, encode
from tests.replication.helpers import Node


class PeerCheckTests(TestCase):
    """
    With a cluster user, peers must present it; without one, only this machine may connect.
    """

    def test_without_cluster_user(self) -> None:
        """
        Loopback peers are accepted, others refused.
        """
        check = PeerCheck()
        self.assertIsNone(check.refusal({}, "127.0.0.1"))
        self.assertIsNone(check.refusal({}, "::1"))
        self.assertIn("only with the cluster user", check.refusal({}, "10.0.0.2"))

    def test_with_cluster_user(self) -> None:
        """
        The right user and password are accepted from anywhere; anything else is refused
        with the reason.
        """
        check = PeerCheck("cluster", "s3cret")
        good = {"authorization": basic_authorization("cluster", "s3cret")}
        self.assertIsNone(check.refusal(good, "10.0.0.2"))
        for headers, words in [
            ({}, "credentials are required"),
            ({"authorization": "Bearer x"}, "credentials are required"),
            ({"authorization": "Basic %%%"}, "not valid base64"),
            (
                {"authorization": basic_authorization("cluster", "wrong")},
                "wrong cluster user or password",
            ),
        ]:
            self.assertIn(words, check.refusal(headers, "127.0.0.1"))


class _RawClient(WebSocketClientProtocol):
    """
    Sends the frames it is given once open, and keeps what it receives.
    """

    def onOpen(self) -> None:
        for frame in self.factory.frames:
            self.sendMessage(frame, isBinary=True)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.received.append(decode(payload))

    def onClose(self, wasClean: bool, code, reason) -> None:
        self.factory.closed.callback(None)


class ListenerTests(TestCase):
    """
    The listener refuses what is not a replication conversation, with a reason.
    """

    @inlineCallbacks
    def converse(self, *frames: bytes, headers=None, leaving=False) -> list:
        """
        Connect to a node's listener, send C{frames}, and return what came back before the
        node closed the connection (with C{leaving}, the node has begun to stop first).
        """
        node = Node(self, "node-a")
        yield node.start()
        if leaving:
            node.cluster._factory.disconnect_all()
        factory = WebSocketClientFactory(node.url, headers=headers or {}, reactor=reactor)
        factory.protocol = _RawClient
        factory.frames, factory.received, factory.closed = frames, [], Deferred()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", node.port)
        yield endpoint.connect(factory)
        yield factory.closed
        return factory.received

    @inlineCallbacks
    def test_first_message_must_subscribe(self) -> None:
        """
        A conversation that does not start with a subscription is refused.
        """
        received = yield self.converse(encode(Ack(3)))
        self.assertEqual(received, [Refused("the first message must subscribe, not Ack")])

    @inlineCallbacks
    def test_bad_frame_closes(self) -> None:
        """
        A frame that is not a message ends the connection.
        """
        received = yield self.converse(b"\xff\x00")
        self.assertEqual(received, [])

    @inlineCallbacks
    def test_self_subscription_refused(self) -> None:
        """
        A node cannot subscribe to itself.
        """
        received = yield self.converse(encode(Subscribe("node-a", None, {})))
        self.assertEqual(received, [Refused("node-a cannot subscribe to itself")])

    @inlineCallbacks
    def test_leaving_node_serves_nothing(self) -> None:
        """
        Once the node has begun to stop (its database closes next), a connection that
        completes its handshake is dropped and its subscription never read.
        """
        received = yield self.converse(encode(Subscribe("node-b", None, {})), leaving=True)
        self.assertEqual(received, [])

    # Served, the subscription would keep the connection open: fail in seconds, not minutes.
    test_leaving_node_serves_nothing.timeout = 15  # type: ignore[attr-defined]
