"""
End-to-end test of the admin console in a daemon with worker processes: the primary worker
(worker 0) alone runs it, on its own telnet port; a telnet client logs in and evaluates
expressions against that worker's runtime.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from twisted.conch.telnet import TelnetTransport
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.trial.unittest import TestCase

from tests.admin.test_manhole import PROMPT, _Screen, _TelnetClient
from tests.service.helpers import (
    daemon_arguments, free_port, start_daemon, wait_until_listening, write_tree,
)
from tests.workers.test_end_to_end import APPLICATION


class ConsoleWithWorkersTests(TestCase):
    """
    A daemon with two workers and the telnet console.
    """

    timeout = 60

    @inlineCallbacks
    def test_console_answers(self) -> Any:
        """
        The daemon starts with the console configured, and the console answers from worker 0,
        which serves the application's tables.
        """
        root = tempfile.mkdtemp(prefix="harper-console-")
        self.addCleanup(shutil.rmtree, root, True)
        http_port, telnet_port = free_port(), free_port()
        daemon = start_daemon(self, daemon_arguments(
            root, http_port, "--app", write_tree(self, APPLICATION), "--set", "threads.count=2",
            "--set", f"manhole.telnetPort={telnet_port}", "--set", "manhole.password=s3cret",
        ))
        yield wait_until_listening(daemon, telnet_port)
        screen = _Screen()
        transport = TelnetTransport(_TelnetClient, screen)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", telnet_port)
        yield endpoint.connect(Factory.forProtocol(lambda: transport))
        self.addCleanup(transport.loseConnection)
        client = transport.protocol
        yield screen.wait_for(b"Username: ")
        client.send_line(b"admin")
        yield screen.wait_for(b"Password: ")
        client.send_line(b"s3cret")
        yield screen.wait_for(PROMPT)
        client.send_line(b"service.worker.index, ('data', 'Dog') in service.runtime.resources")
        yield screen.wait_for(b"\n(0, True)\r")
