"""
Tests for the C{harper} command line against a real daemon.
"""

from __future__ import annotations

import io
import os
import signal

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from harper.cli import CommandError, main, parse_arguments
from harper.service.runfile import read_run_file
from tests.service.helpers import KENNEL_CONFIG, daemon_arguments, free_port, start_daemon, wait_until_listening


class ParseTests(TestCase):
    """
    L{parse_arguments}.
    """

    def test_fields_and_settings(self) -> None:
        """
        Values are YAML scalars; the command line's own keys are kept apart.
        """
        command, fields, own = parse_arguments(
            ["search_by_value", "table=Dog", "limit=2", "json=true", "root=/x", "records=[{id: 1}]"]
        )
        self.assertEqual(command, "search_by_value")
        self.assertEqual(fields, {"table": "Dog", "limit": 2, "records": [{"id": 1}]})
        self.assertEqual(own, {"json": True, "root": "/x"})

    def test_malformed(self) -> None:
        """
        An argument without '=' is refused; no arguments print the usage.
        """
        self.assertRaises(CommandError, parse_arguments, ["describe_all", "oops"])
        error = self.assertRaises(CommandError, parse_arguments, [])
        self.assertIn("harper <operation>", str(error))


class DaemonCommandTests(TestCase):
    """
    Operations, status, stop and restart of a running kennel daemon.
    """

    timeout = 60

    @inlineCallbacks
    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        http, operations = free_port(), free_port()
        self.daemon = start_daemon(self, daemon_arguments(
            self.root, http, "--config", KENNEL_CONFIG, "--set", f"operationsApi.port={operations}",
        ))
        yield wait_until_listening(self.daemon, operations)
        # The daemon writes its run file just after it listens; under load the commands
        # below could look for it in between.
        for _ in range(200):
            if read_run_file(self.root) is not None:
                break
            yield deferLater(reactor, 0.1, lambda: None)
        self.addCleanup(self.kill_recorded)

    def kill_recorded(self) -> None:
        """
        Kill whatever daemon the run file names (one a restart started).
        """
        run = read_run_file(self.root)
        if run is not None:
            try:
                os.kill(run["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass

    def command(self, *arguments: str):
        """
        Run C{harper ARGUMENTS root=<the daemon's root>} in a thread; fire with (status, output).
        """
        out = io.StringIO()

        def run():
            return main([*arguments, f"root={self.root}"], out=out, environ={}), out.getvalue()

        return deferToThread(run)

    @inlineCallbacks
    def test_operation(self):
        """
        An operation is sent to the daemon and its answer printed as YAML (JSON on request).
        """
        status, output = yield self.command("search_by_value", "table=Breed", "search_attribute=id",
                                            "search_value=1", "get_attributes=[name]")
        self.assertEqual((status, output), (0, "- name: Labrador Retriever\n"))
        status, output = yield self.command("search_by_id", "table=Breed", "ids=[2]", "get_attributes=[name]", "json=true")
        self.assertEqual(status, 0)
        self.assertIn('"German Shepherd"', output)

    @inlineCallbacks
    def test_error_status(self):
        """
        An operation the daemon refuses exits with status 2.
        """
        status, _ = yield self.command("no_such_operation")
        self.assertEqual(status, 2)

    @inlineCallbacks
    def test_status_stop(self):
        """
        status reports the running daemon; stop ends it and removes the run file.
        """
        status, output = yield self.command("status")
        self.assertEqual(status, 0)
        self.assertIn("running, pid", output)
        status, output = yield self.command("stop")
        self.assertEqual(status, 0)
        yield self.daemon.ended()
        self.assertIsNone(read_run_file(self.root))
        status, output = yield self.command("status")
        self.assertEqual((status, output.endswith("not running\n")), (3, True))
