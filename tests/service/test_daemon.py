# -*- test-case-name: tests.service.test_daemon -*-
"""
Acceptance tests of the daemon: a real C{twistd -n harper} subprocess on free loopback
ports with the kennel example keeps its records across a restart, rejects invalid records
over REST, and refuses bad input with one clear message and a non-zero exit; plus in-process
tests of L{harper.service.root.HarperService} refusing to start.
"""

from __future__ import annotations

import io
import os
import signal
import sys

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import TestCase

from harper.service.tap import Options, build_service
from tests.service.helpers import (
    KENNEL_CONFIG,
    daemon_arguments,
    free_port,
    is_listening,
    request_json,
    start_daemon,
    stop_process,
    wait_until_listening,
    write_tree,
)

#: An application whose seed record lacks a required attribute.
BAD_SEED_APPLICATION = {
    "schema.graphql": "type Cat @table @export {\n  id: ID @primaryKey\n  name: String!\n}\n",
    "config.yaml": (
        "rest: true\ngraphqlSchema: {files: '*.graphql'}\ndataLoader: {files: 'data/*.yaml'}\n"
    ),
    "data/cats.yaml": "table: Cat\nrecords:\n  - {id: '1', name: Tom}\n  - {id: '2'}\n",
}


class KennelDaemonTests(TestCase):
    """
    The kennel example served by a real daemon.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    @inlineCallbacks
    def start(self):
        """
        Start the kennel daemon on C{self.root} and wait until it listens.
        """
        arguments = daemon_arguments(self.root, self.port, "--config", KENNEL_CONFIG)
        daemon = start_daemon(self, arguments)
        yield wait_until_listening(daemon, self.port)
        return daemon

    def assert_clean_exit(self, daemon) -> None:
        """
        Check that C{daemon} shut down completely and without an error after SIGTERM.

        twistd ends a process stopped by a signal with that same signal once it has cleaned
        up (as POSIX shells and init systems expect), so there is no exit status to check.
        """
        self.assertEqual((daemon.exit_code, daemon.signal), (None, signal.SIGTERM), daemon.output())
        log = daemon.stdout.decode("utf-8")
        self.assertIn("Server Shut Down.", log)
        for sign_of_error in ("Traceback", "Unhandled", "#critical", "#error"):
            self.assertNotIn(sign_of_error, log)
        self.assertEqual(daemon.stderr, b"")

    @inlineCallbacks
    def test_record_survives_restart(self) -> None:
        """
        A record PUT before SIGTERM is returned by a daemon started again on the same root;
        SIGTERM shuts the first daemon down cleanly.
        """
        daemon = yield self.start()
        rex = {"id": "1", "name": "Rex", "age": 3}
        code, _ = yield request_json("PUT", f"{self.base}/Dog/1", rex)
        self.assertIn(code, (200, 204))
        code, record = yield request_json("GET", f"{self.base}/Dog/1")
        self.assertEqual((code, record["name"], record["age"]), (200, "Rex", 3))

        yield stop_process(daemon)
        self.assert_clean_exit(daemon)
        self.assertFalse((yield is_listening(self.port)))

        yield self.start()
        code, again = yield request_json("GET", f"{self.base}/Dog/1")
        self.assertEqual((code, again), (200, record))

    @inlineCallbacks
    def test_invalid_record_rejected(self) -> None:
        """
        A PUT whose record breaks the schema (wrong type, missing required attribute) is
        answered 400 with a message naming each attribute, and stores nothing.
        """
        yield self.start()
        code, body = yield request_json("PUT", f"{self.base}/Dog/200", {"id": "200", "age": "x"})
        self.assertEqual(code, 400)
        self.assertIn("Dog.age", body["error"])
        self.assertIn("Dog.name", body["error"])
        code, _ = yield request_json("GET", f"{self.base}/Dog/200")
        self.assertEqual(code, 404)


class BadInputDaemonTests(TestCase):
    """
    A real daemon given bad input exits at once with status 1, one message naming the file
    and the problem on standard error, and nothing listening.
    """

    @inlineCallbacks
    def assert_refuses(self, extra: list[str], *expected: str):
        """
        Run the daemon with C{extra} harper options; check that it exits non-zero, that
        standard error holds one "harper cannot start" message with every C{expected} text,
        and that its HTTP port is free.
        """
        port = free_port()
        daemon = start_daemon(self, daemon_arguments(os.path.abspath(self.mktemp()), port, *extra))
        exit_code = yield daemon.ended()
        stderr = daemon.stderr.decode("utf-8")
        self.assertEqual(exit_code, 1, daemon.output())
        self.assertEqual(stderr.count("harper cannot start"), 1, daemon.output())
        for text in expected:
            self.assertIn(text, stderr)
        self.assertFalse((yield is_listening(port)))
        return daemon

    def test_malformed_config(self) -> None:
        """
        A root configuration that is not valid YAML is named with the line of the problem.
        """
        path = os.path.join(write_tree(self, {"harper.yaml": "http:\n  port: [1\n"}), "harper.yaml")
        return self.assert_refuses(["--config", path], path, "line 3", "malformed YAML")

    def test_resources_raise_on_import(self) -> None:
        """
        An application whose resources.py raises on import is named with the raising line.
        """
        folder = write_tree(self, {"resources.py": "x = 1\n\nraise RuntimeError('boom')\n"})
        path = os.path.join(folder, "resources.py")
        return self.assert_refuses(["--app", folder], f"{path}, line 3", "RuntimeError: boom")

    def test_seed_data_breaks_schema(self) -> None:
        """
        A seed record that breaks its table's schema stops the daemon once the database is
        open: the message names the data file and the attribute.
        """
        folder = write_tree(self, BAD_SEED_APPLICATION)
        path = os.path.join(folder, "data", "cats.yaml")
        return self.assert_refuses(["--app", folder], f"{path}: Cat.name: required")

    @inlineCallbacks
    def test_port_taken(self) -> None:
        """
        An HTTP port that another process holds is reported and ends the daemon with status
        1 instead of a daemon serving nothing.
        """
        holder = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
        self.addCleanup(holder.stopListening)
        port = holder.getHost().port
        daemon = start_daemon(self, daemon_arguments(os.path.abspath(self.mktemp()), port))
        exit_code = yield daemon.ended()
        self.assertEqual(exit_code, 1, daemon.output())
        self.assertIn(f"http.port: cannot listen on port {port}", daemon.stderr.decode("utf-8"))


class RefusedStartTests(TestCase):
    """
    L{HarperService.startService} when the runtime cannot start, in process.
    """

    def test_seed_failure(self) -> None:
        """
        A failing start-up step is written once to the terminal, sets C{exit_status} to 1,
        stops the reactor and listens on nothing.
        """
        terminal = io.StringIO()
        self.patch(sys, "__stderr__", terminal)
        options = Options()
        application = write_tree(self, BAD_SEED_APPLICATION)
        options.parseOptions(["--root", self.mktemp(), "--app", application])
        memory = MemoryReactorClock()
        harper = build_service(options, memory)
        harper.startService()
        self.addCleanup(harper.stopService)
        memory.run()
        self.assertEqual(harper.exit_status, 1)
        self.assertTrue(memory.hasStopped)
        self.assertEqual(memory.tcpServers, [])
        self.assertTrue(terminal.getvalue().startswith("harper cannot start:\n  - "))
        self.assertIn("cats.yaml: Cat.name: required", terminal.getvalue())
