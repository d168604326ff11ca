"""
Tests for L{harper.websocket.channel}: content negotiation and a slow client.
"""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.trial.unittest import TestCase

from harper.pubsub.payloads import CBOR, JSON, MSGPACK
from harper.websocket.channel import ResourceChannel, negotiated_type


class Socket:
    """
    Records what a channel sends.
    """

    address = "127.0.0.1"

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bool]] = []
        self.closed: list[tuple[int, str]] = []

    def send(self, data: bytes, binary: bool) -> None:
        self.sent.append((data, binary))

    def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


class Subscriptions:
    """
    Opens a subscription that records its closing.
    """

    def __init__(self) -> None:
        self.closed = 0

    def open(self, path, query, user, headers, deliver):
        outer = self

        class Subscription:
            def close(self) -> None:
                outer.closed += 1

        return succeed(Subscription())


class ChannelTests(TestCase):
    """
    One WebSocket subscription.
    """

    def test_negotiation(self) -> None:
        """
        The first supported type of Accept wins, then Content-Type, then JSON.
        """
        self.assertEqual(negotiated_type({"accept": "text/html, application/cbor"}), CBOR)
        self.assertEqual(negotiated_type({"content-type": "application/x-msgpack"}), MSGPACK)
        self.assertEqual(negotiated_type({"accept": "*/*", "content-type": "application/cbor"}), CBOR)
        self.assertEqual(negotiated_type({"accept": "text/html", "content-type": "text/plain"}), JSON)
        self.assertEqual(negotiated_type({}), JSON)

    def test_slow_client(self) -> None:
        """
        While the socket is paused, events wait (up to a limit, then the socket is closed
        with 4008); they are sent in order when it resumes; closing ends the subscription.
        """
        socket, subscriptions = Socket(), Subscriptions()
        channel = ResourceChannel(subscriptions, lambda header, address: succeed(None), socket, "/Dog/",
                                  "", {}, max_pending=2)
        channel.opened()
        channel.pause()
        for number in range(2):
            channel.deliver({"n": number})
        self.assertEqual(socket.sent, [])
        channel.resume()
        self.assertEqual(socket.sent, [(b'{"n":0}', False), (b'{"n":1}', False)])
        channel.pause()
        for number in range(3):
            channel.deliver({"n": number})
        self.assertEqual(socket.closed, [(4008, "the client reads too slowly")])
        channel.closed()
        self.assertEqual(subscriptions.closed, 1)
