# -*- test-case-name: tests.plugins.test_tutorial -*-
"""
The tutorial of docs/plugins.md, run as written: its files are written into an empty
folder, its C{twistd} command starts a real daemon there, and each C{curl} command runs in a
shell, its output compared with the output the page shows. Only the port changes.
"""

from __future__ import annotations

import json
import os
import re
import shlex

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.service.helpers import (
    REPOSITORY,
    TWISTD,
    ChildProcess,
    free_port,
    stop_process,
    wait_until_listening,
)

DOCUMENT = os.path.join(REPOSITORY, "docs", "plugins.md")
_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_DOCUMENTED_PORT = "8080"


def tutorial_blocks() -> list[tuple[str, str, str]]:
    """
    The (language, attributes, text) of every fenced block of the tutorial section.
    """
    with open(DOCUMENT, encoding="utf-8") as stream:
        text = stream.read()
    section = text[text.index("## Tutorial"):]
    return [(language, extra.strip(), body) for language, extra, body in _BLOCK.findall(section)]


class TutorialTests(TestCase):
    """
    The tutorial's commands do what the page says.
    """

    def start_daemon(self, command: str, folder: str, port: int) -> ChildProcess:
        """
        Run the tutorial's C{twistd} command in C{folder}, on C{port}.
        """
        words = shlex.split(command.replace(_DOCUMENTED_PORT, str(port)))
        self.assertEqual(words[0], "twistd")
        child = ChildProcess()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("HARPER_ADMIN")}
        arguments = [TWISTD, *words[1:]]
        transport = reactor.spawnProcess(child, TWISTD, arguments, env=environment, path=folder)
        transport.closeStdin()
        self.addCleanup(stop_process, child)
        return child

    @inlineCallbacks
    def run_commands(self, text: str, folder: str, port: int) -> bytes:
        """
        Run each command line of C{text} in a shell in C{folder}; fire with their output.
        """
        output = b""
        for line in filter(None, text.splitlines()):
            command = line.replace(_DOCUMENTED_PORT, str(port))
            out, err, code = yield getProcessOutputAndValue(
                "/bin/sh", ["-c", command], env=dict(os.environ), path=folder
            )
            self.assertEqual(code, 0, (line, err))
            output += out
        return output

    def assert_output(self, language: str, expected: str, output: bytes) -> None:
        """
        The output shown in the page: equal JSON for C{json} blocks, equal text otherwise.
        """
        if language == "json":
            self.assertEqual(json.loads(output), json.loads(expected))
        else:
            self.assertEqual(output.decode("utf-8").strip(), expected.strip())

    @inlineCallbacks
    def test_tutorial(self) -> None:
        """
        Every file of the tutorial is written, the daemon starts from them, and every
        command prints what the page shows (and the commands without shown output print
        nothing).
        """
        folder = os.path.abspath(self.mktemp())
        port = free_port()
        daemon, last_output, checked = None, None, 0
        for language, attributes, text in tutorial_blocks():
            if attributes.startswith("file="):
                path = os.path.join(folder, attributes[len("file="):])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as stream:
                    stream.write(text)
            elif language == "sh" and text.startswith("twistd "):
                daemon = self.start_daemon(text.strip(), folder, port)
                yield wait_until_listening(daemon, port)
            elif language == "sh":
                self.assertEqual(last_output, None, "a command's output is not shown in the page")
                last_output = yield self.run_commands(text, folder, port)
                if not last_output:
                    last_output = None
            elif attributes == "output":
                self.assert_output(language, text, last_output)
                last_output, checked = None, checked + 1
        self.assertIsNot(daemon, None)
        self.assertEqual((checked, last_output), (3, None))
