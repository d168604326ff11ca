"""
End-to-end test of TLS ports in a daemon with worker processes: the master shares
C{http.securePort} and C{mqtt.securePort} with two workers, and each worker serves its
inherited socket behind TLS (treq over HTTPS, the standard library's C{ssl} on each worker's
connection, paho over MQTTS), trusting a throwaway certificate authority.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import tempfile
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from harper.auth.certificates import client_options
from tests.certificates import ThrowawayAuthority
from tests.mqtt.helpers import V311, Client
from tests.service.helpers import (
    DEADLINE, daemon_arguments, free_port, start_daemon, wait_until_listening, write_tree,
)
from tests.workers.helpers import HAS_PROC, serving_pid, wait_for_workers
from tests.workers.test_end_to_end import APPLICATION



@implementer(IPolicyForHTTPS)
class _Trust:
    """
    HTTPS client connections with fixed TLS options.
    """

    def __init__(self, options: Any) -> None:
        self._options = options

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return self._options


def _get_through(port: int, pid: int, pids: list[int], authority: str,
                 path: str) -> tuple[int, Any]:
    """
    GET C{path} over TLS on a connection to C{port} that worker C{pid} accepted (blocking);
    return the status and the decoded body.
    """
    context = ssl.create_default_context(cafile=authority)
    for _ in range(200):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        if serving_pid(port, raw.getsockname()[1], pids) != pid:
            raw.close()
            continue
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        connection.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()
    raise AssertionError(f"worker {pid} accepted none of 200 connections")


class TLSWorkersTests(TestCase):
    """
    A daemon with two workers, TLS on the HTTP and MQTT ports.
    """

    timeout = 90

    @inlineCallbacks
    def setUp(self) -> Any:
        if not HAS_PROC:
            raise SkipTest("finding the worker that serves a connection needs /proc")
        self.authority = ThrowawayAuthority(self)
        certificate, key = self.authority.issue("127.0.0.1")
        root = tempfile.mkdtemp(prefix="harper-tls-")
        self.addCleanup(shutil.rmtree, root, True)
        self.https, self.mqtts = free_port(), free_port()
        self.daemon = start_daemon(self, daemon_arguments(
            root, free_port(), "--app", write_tree(self, APPLICATION),
            "--set", "threads.count=2",
            "--set", f"tls.certificate={certificate}", "--set", f"tls.privateKey={key}",
            "--set", f"http.securePort={self.https}", "--set", f"mqtt.securePort={self.mqtts}",
            "--set", "mqtt.requireAuthentication=false",
        ))
        yield wait_until_listening(self.daemon, self.https)
        self.pids = sorted((yield wait_for_workers(self.daemon, 2)).values())

    @inlineCallbacks
    def test_https_through_both_workers(self) -> Any:
        """
        treq trusting the authority writes and reads over HTTPS; each worker answers over TLS
        on a connection it accepted.
        """
        options = client_options("127.0.0.1", self.authority.path, None, None)
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = treq.client.HTTPClient(Agent(reactor, contextFactory=_Trust(options), pool=pool))
        url = f"https://127.0.0.1:{self.https}/Dog/tls"
        response = yield client.put(url, json={"name": "Rex", "age": 3}, timeout=DEADLINE)
        self.assertEqual(response.code, 204)
        response = yield client.get(url, headers={"Accept": "application/json"}, timeout=DEADLINE)
        body = yield treq.json_content(response)
        self.assertEqual((response.code, body), (200, {"id": "tls", "name": "Rex", "age": 3}))
        for pid in self.pids:
            status, record = yield deferToThread(
                _get_through, self.https, pid, self.pids, self.authority.path, "/Dog/tls")
            self.assertEqual((status, record["name"]), (200, "Rex"))

    @inlineCallbacks
    def test_mqtts_across_workers(self) -> Any:
        """
        paho over MQTTS: a subscriber served by one worker receives what a publisher served
        by the other worker publishes.
        """
        clients = {}
        for pid in self.pids:
            for attempt in range(100):
                client = Client(self, self.mqtts, f"tls-{pid}-{attempt}", V311)
                client.client.tls_set(ca_certs=self.authority.path)
                _, reason, _ = yield client.connect()
                self.assertEqual(reason, 0)
                local = client.client.socket().getsockname()[1]
                served = yield deferToThread(serving_pid, self.mqtts, local, self.pids)
                if served == pid:
                    clients[pid] = client
                    break
                yield client.disconnect()
        subscriber, publisher = clients[self.pids[0]], clients[self.pids[1]]
        codes = yield subscriber.subscribe("news/tls", qos=1)
        self.assertEqual([int(getattr(code, "value", code)) for code in codes], [1])
        yield publisher.publish("news/tls", b"secret", qos=1)
        messages = yield subscriber.wait_for(1, timeout=DEADLINE)
        self.assertEqual(messages[0][:3], ("news/tls", b"secret", 1))
