"""
Tests for L{harper.service.limits}: connections past C{maxConnections} get no protocol, the
count follows connections that close, and refusals are logged at most once per interval.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone
from twisted.trial.unittest import TestCase

from harper.service.limits import ConnectionLimit

ADDRESS = IPv4Address("TCP", "127.0.0.1", 40000)


class Echo(Protocol):
    """
    Writes back what it reads, and remembers whether it lost its connection.
    """

    lost = False

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def connectionLost(self, reason: Failure = None) -> None:
        self.lost = True


def connect(factory: Factory) -> tuple:
    """
    Accept one connection as a listening port does: build the protocol and, unless the
    factory refused, connect it to a new transport. Returns C{(protocol, transport)}.
    """
    protocol = factory.buildProtocol(ADDRESS)
    transport = StringTransport()
    if protocol is not None:
        protocol.makeConnection(transport)
    return protocol, transport


class ConnectionLimitTests(TestCase):
    """
    L{ConnectionLimit} in front of a factory, connections made by hand on a fake clock.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.limit = ConnectionLimit(2, "http.maxConnections", self.clock, log_interval=10)
        self.factory = self.limit.wrap(Factory.forProtocol(Echo))

    def test_within_the_limit(self) -> None:
        """
        Below the limit, connections get the wrapped factory's protocol, which reads and
        writes through to the real transport.
        """
        protocol, transport = connect(self.factory)
        protocol.dataReceived(b"ping")
        self.assertEqual(transport.value(), b"ping")
        self.assertIsInstance(protocol.wrappedProtocol, Echo)
        self.assertEqual(self.limit.open, 1)

    def test_past_the_limit(self) -> None:
        """
        Once C{limit} connections are open, the next gets no protocol (the port closes it),
        and it is counted as refused.
        """
        connect(self.factory)
        connect(self.factory)
        protocol, _ = connect(self.factory)
        self.assertIsNone(protocol)
        self.assertEqual((self.limit.open, self.limit.refused), (2, 1))

    def test_closed_connections_free_their_place(self) -> None:
        """
        A connection that closes no longer counts: a new one is accepted in its place, and
        the wrapped protocol is told of the loss.
        """
        first, _ = connect(self.factory)
        connect(self.factory)
        wrapped = first.wrappedProtocol
        first.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(wrapped.lost)
        self.assertEqual(self.limit.open, 1)
        protocol, _ = connect(self.factory)
        self.assertIsNotNone(protocol)
        self.assertEqual((self.limit.open, self.limit.refused), (2, 0))

    def test_shared_by_listeners(self) -> None:
        """
        The factories that one limit wraps (a section's plain and TLS ports) count together.
        """
        other = self.limit.wrap(Factory.forProtocol(Echo))
        connect(self.factory)
        connect(other)
        self.assertIsNone(connect(other)[0])
        self.assertIsNone(connect(self.factory)[0])

    def test_refusal_of_the_wrapped_factory(self) -> None:
        """
        When the wrapped factory builds no protocol, neither does the limit, and nothing is
        counted as open.
        """
        refusing = Factory()
        refusing.buildProtocol = lambda address: None
        factory = self.limit.wrap(refusing)
        self.assertIsNone(connect(factory)[0])
        self.assertEqual((self.limit.open, self.limit.refused), (0, 0))

    def test_log_at_most_once_per_interval(self) -> None:
        """
        The first refusal is logged at once; the next ones within the interval are only
        counted, and the first after it logs how many there were.
        """
        connect(self.factory)
        connect(self.factory)
        with capturedLogs() as events:
            for _ in range(1000):
                connect(self.factory)
            self.clock.advance(10)
            connect(self.factory)
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual([(e["key"], e["count"], e["total"]) for e in warnings],
                         [("http.maxConnections", 1, 1), ("http.maxConnections", 1000, 1001)])

    def test_limit_must_be_positive(self) -> None:
        """
        A limit of 0 is no limit at all: the caller does not wrap then.
        """
        self.assertRaises(ValueError, ConnectionLimit, 0, "mqtt.maxConnections", self.clock)
