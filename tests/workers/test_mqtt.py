"""
End-to-end test of the MQTT broker in a daemon with worker processes: paho-mqtt clients on
the shared MQTT port, each connection checked to be served by the worker the test chooses.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from typing import Any, Optional

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests.mqtt.helpers import V5, V311, Client, properties
from tests.service.helpers import (
    DEADLINE, daemon_arguments, free_port, start_daemon, wait_until_listening,
)
from tests.workers.helpers import HAS_PROC, serving_pid, wait_for_workers



class _PinnedPaho(paho.Client):
    """
    A paho client whose next connection is a socket the test opened (and checked which worker
    accepted) instead of a new one.
    """

    pinned: Optional[socket.socket] = None

    def _create_socket_connection(self) -> socket.socket:
        pinned, self.pinned = self.pinned, None
        return pinned if pinned is not None else super()._create_socket_connection()


class PlainTopicsAcrossWorkersTests(TestCase):
    """
    Two worker processes sharing the MQTT port and a FileStorage served by ZEO.
    """

    timeout = 90

    @inlineCallbacks
    def setUp(self) -> Any:
        if not HAS_PROC:
            raise SkipTest("finding the worker that serves a connection needs /proc")
        root = tempfile.mkdtemp(prefix="harper-mqtt-")
        self.addCleanup(shutil.rmtree, root, True)
        self.mqtt_port = free_port()
        http_port = free_port()
        self.daemon = start_daemon(self, daemon_arguments(
            root, http_port, "--set", "threads.count=2", "--set", f"mqtt.port={self.mqtt_port}",
            "--set", "mqtt.requireAuthentication=false",
        ))
        yield wait_until_listening(self.daemon, self.mqtt_port)
        self.pids = sorted((yield wait_for_workers(self.daemon, 2)).values())

    @inlineCallbacks
    def client_on(self, pid: int, client_id: str, version: int = V5) -> Any:
        """
        Fire with a connected paho client whose connection worker C{pid} accepted.
        """
        for attempt in range(100):
            client = Client(self, self.mqtt_port, f"{client_id}-{attempt}", version)
            yield client.connect()
            local = client.client.socket().getsockname()[1]
            server = yield deferToThread(serving_pid, self.mqtt_port, local, self.pids)
            if server == pid:
                return client
            yield client.disconnect()
        raise AssertionError(f"worker {pid} accepted none of 100 MQTT connections")

    def socket_to(self, pid: int) -> socket.socket:
        """
        A TCP connection to the MQTT port that worker C{pid} accepted (blocking).
        """
        for _ in range(100):
            connection = socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=10)
            if serving_pid(self.mqtt_port, connection.getsockname()[1], self.pids) == pid:
                return connection
            connection.close()
        raise AssertionError(f"worker {pid} accepted none of 100 connections")

    @inlineCallbacks
    def resume_on(self, pid: int, client_id: str) -> Any:
        """
        Fire with a paho client that resumed the session of C{client_id} (clean start 0,
        session expiry 300 s) through worker C{pid}.
        """
        client = Client(self, self.mqtt_port, client_id, V5, paho_class=_PinnedPaho)
        client.client.pinned = yield deferToThread(self.socket_to, pid)
        yield client.connect(clean=False, properties=properties(
            PacketTypes.CONNECT, SessionExpiryInterval=300))
        return client

    @inlineCallbacks
    def test_session_resumed_through_other_worker(self) -> Any:
        """
        A client with a persistent session subscribes through one worker and goes away;
        messages published through both workers meanwhile are queued once each; the client
        that comes back through the other worker gets each of them exactly once, and its
        subscription still works there.
        """
        first, second = self.pids
        client = yield self.resume_on(first, "roamer")
        yield client.subscribe("roam/#", qos=1)
        yield client.disconnect()
        for pid, payload in ((first, b"1"), (second, b"2"), (first, b"3"), (second, b"4")):
            publisher = yield self.client_on(pid, f"pub{payload.decode()}")
            yield publisher.publish("roam/x", payload, 1)
            yield publisher.disconnect()
        back = yield self.resume_on(second, "roamer")
        self.assertTrue(back.connack[0].session_present)
        yield back.wait_for(4, timeout=DEADLINE)
        publisher = yield self.client_on(first, "pub5")
        yield publisher.publish("roam/x", b"5", 1)
        messages = yield back.wait_for(5, timeout=DEADLINE)
        yield deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(sorted(m[1] for m in back.messages), [b"1", b"2", b"3", b"4", b"5"])
        self.assertEqual([m[1] for m in messages[:4]], [b"1", b"2", b"3", b"4"])

    @inlineCallbacks
    def test_taken_over_across_workers(self) -> Any:
        """
        A client connected through one worker that connects again through the other: the
        first connection gets DISCONNECT 0x8E (Session taken over), and the second finds
        the session with its subscription.
        """
        first, second = self.pids
        old = yield self.resume_on(first, "twice")
        yield old.subscribe("twice/#", qos=1)
        yield deferLater(reactor, 1.0, lambda: None)  # the announcement reaches the other worker
        new = yield self.resume_on(second, "twice")
        self.assertTrue(new.connack[0].session_present)
        yield deferToThread(old.disconnected.wait, DEADLINE)
        self.assertTrue(old.disconnected.is_set())
        publisher = yield self.client_on(first, "pub")
        yield publisher.publish("twice/x", b"on", 1)
        messages = yield new.wait_for(1, timeout=DEADLINE)
        self.assertEqual(messages[0][:2], ("twice/x", b"on"))

    @inlineCallbacks
    def test_plain_topics_cross_workers(self) -> Any:
        """
        A subscriber served by one worker gets the plain-topic messages published through the
        other, retained or not; a client that subscribes later on the first worker gets the
        retained message the second stored.
        """
        first, second = self.pids
        subscriber = yield self.client_on(first, "sub")
        yield subscriber.subscribe("news/#", qos=1)
        publisher = yield self.client_on(second, "pub", V311)
        yield publisher.publish("news/1", b"plain", 1)
        yield publisher.publish("news/state", b"kept", 1, retain=True)
        messages = yield subscriber.wait_for(2, timeout=DEADLINE)
        self.assertEqual([m[:3] for m in messages],
                         [("news/1", b"plain", 1), ("news/state", b"kept", 1)])
        late = yield self.client_on(first, "late")
        yield late.subscribe("news/state", qos=1)
        messages = yield late.wait_for(1, timeout=DEADLINE)
        self.assertEqual(messages[0][:4], ("news/state", b"kept", 1, True))

    @inlineCallbacks
    def test_shared_subscription_across_workers(self) -> Any:
        """
        Members of one shared subscription on both workers: each message published through
        either worker reaches exactly one of them, and both get some.
        """
        first, second = self.pids
        members = []
        for pid, name in ((first, "m1"), (second, "m2")):
            member = yield self.client_on(pid, name)
            yield member.subscribe("$share/g/work/#", qos=1)
            members.append(member)
        yield deferLater(reactor, 1.0, lambda: None)  # the groups reach the other worker
        publishers = []
        for pid, name in ((first, "p1"), (second, "p2")):
            publisher = yield self.client_on(pid, name)
            publishers.append(publisher)
        for number in range(30):
            yield publishers[number % 2].publish("work/x", b"%d" % number, 1)
        deadline = reactor.seconds() + DEADLINE
        while sum(len(member.messages) for member in members) < 30 and reactor.seconds() < deadline:
            yield deferLater(reactor, 0.05, lambda: None)
        yield deferLater(reactor, 0.3, lambda: None)  # time for a second copy to show up
        got = [[m[1] for m in member.messages] for member in members]
        self.assertEqual(sorted(got[0] + got[1], key=int), [b"%d" % n for n in range(30)])
        self.assertTrue(got[0] and got[1], got)
