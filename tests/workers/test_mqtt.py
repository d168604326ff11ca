"""
End-to-end test of the MQTT broker in a daemon with worker processes: paho-mqtt clients on
the shared MQTT port, each connection checked to be served by the worker the test chooses.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests.mqtt.helpers import V5, V311, Client
from tests.service.helpers import (
    DEADLINE, daemon_arguments, free_port, start_daemon, wait_until_listening,
)
from tests.workers.helpers import HAS_PROC, serving_pid

_SERVING = re.compile(rb"worker (\d+) \(pid (\d+)\) serving")


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
        deadline = reactor.seconds() + DEADLINE
        while len(set(_SERVING.findall(self.daemon.stdout))) < 2:
            if reactor.seconds() > deadline or not self.daemon.running:
                raise AssertionError(f"two workers do not serve\n{self.daemon.output()}")
            yield deferLater(reactor, 0.05, lambda: None)
        self.pids = sorted({int(pid) for _, pid in _SERVING.findall(self.daemon.stdout)})

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
