"""
Tests for L{harper.workers.worker}: the C{--worker} option and L{WorkerLink}.
"""

from __future__ import annotations

import os
import socket

from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import TestCase

from harper.database.events import PUT, ChangeEvent, ChangeFeed
from harper.errors import ConfigError
from harper.workers.worker import WorkerLink, parse_worker_option, worker_option


class OptionTests(TestCase):
    """
    L{worker_option} and L{parse_worker_option}.
    """

    def test_round_trip(self) -> None:
        """
        The descriptors and the number the master gives are the ones the worker reads.
        """
        sockets = {"http.port": (4, socket.AF_INET), "mqtt.port": (5, socket.AF_INET6)}
        self.assertEqual(parse_worker_option(worker_option(3, sockets, 1)), (3, sockets, 1))

    def test_malformed(self) -> None:
        """
        A value the master did not make is refused with a L{ConfigError} that says the option
        is internal.
        """
        malformed = (
            "3", "{", '{"bus": 3}', '{"bus": 3, "index": "0", "sockets": {}}',
            '{"bus": "x", "index": 0, "sockets": {}}', '{"bus": 3, "index": 0, "sockets": {"a": 1}}',
        )
        for text in malformed:
            with self.assertRaises(ConfigError) as raised:
                parse_worker_option(text)
            self.assertIn("--worker is internal", raised.exception.message)


class WorkerLinkTests(TestCase):
    """
    L{WorkerLink} serves on inherited sockets and joins the bus.
    """

    def descriptor(self) -> int:
        """
        A real file descriptor (of a fresh socket) that the link may close.
        """
        return socket.socket().detach()

    def test_adopt(self) -> None:
        """
        C{adopt} serves the factory on the inherited socket of the key, then closes the
        inherited descriptor (the reactor holds its own copy).
        """
        reactor, fd = MemoryReactor(), self.descriptor()
        link = WorkerLink(self.descriptor(), {"http.port": (fd, socket.AF_INET)}, ChangeFeed(), reactor)
        factory = object()
        link.adopt("http.port", factory)
        self.assertEqual(reactor.adoptedPorts, [(fd, socket.AF_INET, factory)])
        self.assertRaises(OSError, os.fstat, fd)

    def test_bus(self) -> None:
        """
        Once started, the link sends the feed's events on the bus; when the bus closes while
        it runs, the worker's reactor stops.
        """
        reactor, feed, bus = MemoryReactor(), ChangeFeed(), self.descriptor()
        link = WorkerLink(bus, {}, feed, reactor)
        link.startService()
        [(fd, family, factory)] = reactor.adoptedStreamConnections
        self.assertEqual((fd, family), (bus, socket.AF_UNIX))
        channel, transport = factory.buildProtocol(None), StringTransport()
        channel.makeConnection(transport)
        feed.emit([ChangeEvent("data", "Dog", 1, PUT, {"id": 1}, 1.0)])
        self.assertGreater(len(transport.value()), 8)
        channel.connectionLost(None)
        self.assertTrue(reactor.hasStopped)

    def test_bus_closed_on_shutdown(self) -> None:
        """
        A bus that closes after the link stopped (the worker shuts down) does not stop the
        reactor again.
        """
        reactor = MemoryReactor()
        link = WorkerLink(self.descriptor(), {}, ChangeFeed(), reactor)
        link.startService()
        channel = reactor.adoptedStreamConnections[0][2].buildProtocol(None)
        channel.makeConnection(StringTransport())
        link.stopService()
        channel.connectionLost(None)
        self.assertFalse(reactor.hasStopped)
