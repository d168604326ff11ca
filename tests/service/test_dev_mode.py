"""
Dev mode end to end: a real C{twistd -n harper --dev} subprocess reloads its application when
the files change, over real sockets, without a restart.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any, Callable

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.components.test_lifecycle import DOG, DOG_WITH_AGE, greeting
from tests.service.helpers import (
    DEADLINE,
    daemon_arguments,
    free_port,
    request_json,
    start_daemon,
    wait_until_listening,
    write_tree,
)

CONFIG = "rest: true\ngraphqlSchema: {files: '*.graphql'}\npyResource: {files: resources.py}\n"


def keep_alive_get(connection: socket.socket, path: str) -> bytes:
    """
    Send C{GET path} on the open C{connection} (kept open) and return the whole response.
    """
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += connection.recv(4096)
    head, _, body = response.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += connection.recv(4096)
    return head + b"\r\n\r\n" + body


class DevModeDaemonTests(TestCase):
    """
    C{twistd -n harper --dev --app FOLDER}.
    """

    def edit(self, name: str, text: str) -> None:
        """
        Rewrite C{name} in the application folder, with a modification time one second later
        than the last edit (so that every edit is seen, however fast they come).
        """
        path = os.path.join(self.folder, name)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        self.mtime += 10**9
        os.utime(path, ns=(self.mtime, self.mtime))

    @inlineCallbacks
    def eventually(self, check: Callable[[], Any], what: str) -> Any:
        """
        Poll C{check} (which may return a Deferred) until it returns true; fail after
        L{DEADLINE} seconds with the daemon's log.
        """
        deadline = reactor.seconds() + DEADLINE
        while not (yield check()):
            if reactor.seconds() > deadline:
                self.fail(f"{what} did not happen within {DEADLINE} s\n{self.daemon.output()}")
            yield deferLater(reactor, 0.1, lambda: None)

    def logged(self, text: str, count: int = 1) -> Callable[[], bool]:
        return lambda: self.daemon.stdout.decode("utf-8", "replace").count(text) >= count

    @inlineCallbacks
    def get(self, path: str) -> Any:
        return (yield request_json("GET", f"{self.base}{path}"))

    @inlineCallbacks
    def test_reload(self) -> None:
        """
        A new C{@indexed} attribute serves over REST (write, read, query) without a restart;
        broken edits of the schema and of a resource module are logged and the previous
        version keeps serving; a fixed module changes the response.
        """
        self.folder = write_tree(self, {"config.yaml": CONFIG, "schema.graphql": DOG, "resources.py": greeting("hello")})
        self.mtime = os.stat(os.path.join(self.folder, "schema.graphql")).st_mtime_ns
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        arguments = daemon_arguments(os.path.abspath(self.mktemp()), port, "--dev", "--app", self.folder)
        self.daemon = start_daemon(self, arguments)
        yield wait_until_listening(self.daemon, port)
        self.assertEqual((yield self.get("/Greeting")), (200, {"greeting": "hello"}))
        connection = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.addCleanup(connection.close)
        self.assertIn(b"hello", keep_alive_get(connection, "/Greeting"))

        self.edit("schema.graphql", DOG_WITH_AGE)
        yield self.eventually(self.logged("reloaded the application"), "the schema reload")
        # The connection opened before the reload still serves.
        self.assertIn(b"hello", keep_alive_get(connection, "/Greeting"))
        for key, age in (("1", 3), ("2", 5), ("3", 3)):
            status, _ = yield request_json("PUT", f"{self.base}/Dog/{key}", {"name": f"d{key}", "age": age})
            self.assertEqual(status, 204)
        self.assertEqual((yield self.get("/Dog/1")), (200, {"id": "1", "name": "d1", "age": 3}))
        status, found = yield self.get("/Dog/?age=3")
        self.assertEqual((status, sorted(record["id"] for record in found)), (200, ["1", "3"]))

        self.edit("schema.graphql", "type Dog @table @export {\n  id: ID @primaryKey\n  age: Strin\n")
        yield self.eventually(self.logged("was not reloaded"), "the schema error")
        self.assertIn("schema.graphql", self.daemon.stdout.decode())
        self.assertEqual((yield self.get("/Dog/1")), (200, {"id": "1", "name": "d1", "age": 3}))
        self.edit("schema.graphql", DOG_WITH_AGE)
        yield self.eventually(self.logged("reloaded the application", 2), "the fixed schema")

        self.edit("resources.py", greeting("bonjour") + "def broken(:\n")
        yield self.eventually(self.logged("was not reloaded", 2), "the module error")
        self.assertIn("resources.py, line 6", self.daemon.stdout.decode())
        self.assertEqual((yield self.get("/Greeting")), (200, {"greeting": "hello"}))
        self.assertEqual((yield self.get("/Dog/1"))[0], 200)

        self.edit("resources.py", greeting("bonjour"))
        yield self.eventually(
            lambda: self.get("/Greeting").addCallback(lambda answer: answer == (200, {"greeting": "bonjour"})),
            "the module reload",
        )
