# -*- test-case-name: tests.admin.test_manhole -*-
"""
Tests for L{harper.admin.manhole} and L{harper.admin.namespace}: the admin console is driven
over real loopback telnet and SSH connections by Twisted's own telnet and SSH client protocols.
"""

from __future__ import annotations

import io
import os
import stat
import sys

from twisted.conch.ssh import session
from twisted.conch.ssh.channel import SSHChannel
from twisted.conch.ssh.connection import SSHConnection
from twisted.conch.ssh.keys import Key
from twisted.conch.ssh.transport import SSHClientTransport
from twisted.conch.ssh.userauth import SSHUserAuthClient
from twisted.conch.telnet import (
    ECHO,
    IAC,
    IP,
    LINEMODE,
    LINEMODE_EOF,
    NAWS,
    SGA,
    TelnetProtocol,
    TelnetTransport,
)
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.python.filepath import FilePath
from twisted.trial.unittest import FailTest, TestCase

from harper.admin.manhole import HOST_KEY_FILE_NAME, ManholeService, load_or_create_host_key
from harper.admin.namespace import build_namespace, show
from harper.errors import ConfigError, StartupError

PROMPT = b">>> "
WAIT_SECONDS = 5


def _cancelling(call):
    def cancel(result):
        if call.active():
            call.cancel()
        return result

    return cancel


class _Screen:
    """
    Everything one client connection received, with a way to wait for some text to arrive.

    :ivar received: all bytes received so far.
    :ivar closed: fires when the connection is closed.
    """

    def __init__(self) -> None:
        self.received = b""
        self.closed: defer.Deferred[None] = defer.Deferred()
        self._cursor = 0
        self._waiting: list[tuple[bytes, defer.Deferred[bytes]]] = []

    def feed(self, data: bytes) -> None:
        self.received += data
        waiting, self._waiting = self._waiting, []
        for marker, found in waiting:
            self._match(marker, found)

    def wait_for(self, marker: bytes) -> defer.Deferred[bytes]:
        """
        Fire with the text up to and including C{marker} once it arrives after the text matched
        by the previous wait.
        """
        found: defer.Deferred[bytes] = defer.Deferred()
        self._match(marker, found)
        if not found.called:
            give_up = reactor.callLater(WAIT_SECONDS, self._give_up, marker, found)
            found.addBoth(_cancelling(give_up))
        return found

    def _match(self, marker: bytes, found: defer.Deferred[bytes]) -> None:
        position = self.received.find(marker, self._cursor)
        if position < 0:
            self._waiting.append((marker, found))
            return
        start, self._cursor = self._cursor, position + len(marker)
        found.callback(self.received[start : self._cursor])

    def _give_up(self, marker: bytes, found: defer.Deferred[bytes]) -> None:
        self._waiting.remove((marker, found))
        found.errback(FailTest(f"{marker!r} never arrived; got {self.received!r}"))


class _TelnetClient(TelnetProtocol):
    """
    A telnet client that agrees to the options a terminal client normally agrees to.
    """

    def __init__(self, screen: _Screen) -> None:
        self.screen = screen

    def enableLocal(self, option: bytes) -> bool:
        return option in (LINEMODE, NAWS, SGA)

    def enableRemote(self, option: bytes) -> bool:
        return option in (ECHO, SGA)

    def disableRemote(self, option: bytes) -> None:
        pass

    def dataReceived(self, data: bytes) -> None:
        self.screen.feed(data)

    def connectionLost(self, reason) -> None:
        self.screen.closed.callback(None)

    def send_line(self, line: bytes) -> None:
        self.transport.write(line + b"\n")


class _PasswordAuth(SSHUserAuthClient):
    """
    Authenticate with each of the given passwords in turn, then give up.
    """

    def __init__(self, username: bytes, connection: SSHConnection, passwords: list[bytes]):
        super().__init__(username, connection)
        self._passwords = list(passwords)

    def getPassword(self, prompt=None):
        if not self._passwords:
            return None
        return defer.succeed(self._passwords.pop(0))


class _ShellChannel(SSHChannel):
    """
    A session channel that asks for a shell, with a pseudo-terminal if C{pty}.
    """

    name = b"session"

    def __init__(self, screen: _Screen, pty: bool, **kw) -> None:
        super().__init__(**kw)
        self.screen = screen
        self.channel_closed: defer.Deferred[None] = defer.Deferred()
        self._pty = pty

    def channelOpen(self, specificData: bytes) -> None:
        ready = defer.succeed(None)
        if self._pty:
            size = session.packRequest_pty_req(b"xterm", (24, 80, 0, 0), b"")
            ready = self.conn.sendRequest(self, b"pty-req", size, wantReply=True)
        ready.addCallback(lambda _: self.conn.sendRequest(self, b"shell", b"", wantReply=True))

    def dataReceived(self, data: bytes) -> None:
        self.screen.feed(data)

    def closed(self) -> None:
        super().closed()
        self.channel_closed.callback(None)

    def send_line(self, line: bytes) -> None:
        self.write(line + b"\r")


class _ShellConnection(SSHConnection):
    """
    Open one shell channel as soon as the client is authenticated.
    """

    def __init__(self, client: _SSHClient) -> None:
        super().__init__()
        self.client = client

    def serviceStarted(self) -> None:
        super().serviceStarted()
        self.client.authenticated = True
        self.client.shell = _ShellChannel(self.client.screen, self.client.pty, conn=self)
        self.openChannel(self.client.shell)


class _SSHClient(SSHClientTransport):
    """
    An SSH client that records the server's host key and logs in with a password.

    :ivar host_key: fires with the host key the server presented.
    :ivar authenticated: whether the server accepted a password.
    :ivar shell: the shell channel, once authenticated.
    """

    authenticated = False
    shell: _ShellChannel | None = None

    def __init__(self, username: bytes, passwords: list[bytes], pty: bool = True) -> None:
        self.screen = _Screen()
        self.host_key: defer.Deferred[Key] = defer.Deferred()
        self.pty = pty
        self._username = username
        self._passwords = passwords

    def verifyHostKey(self, hostKey: bytes, fingerprint: bytes) -> defer.Deferred[bool]:
        self.host_key.callback(Key.fromString(hostKey))
        return defer.succeed(True)

    def connectionSecure(self) -> None:
        auth = _PasswordAuth(self._username, _ShellConnection(self), self._passwords)
        self.requestService(auth)

    def connectionLost(self, reason) -> None:
        super().connectionLost(reason)
        self.screen.closed.callback(None)


class _ConsoleTestCase(TestCase):
    """
    Helpers to run a console service and connect to it over loopback.
    """

    timeout = 10

    def setUp(self) -> None:
        self.key_dir = FilePath(self.mktemp())
        self.logins = 0

    def _namespace(self) -> dict:
        self.logins += 1
        return build_namespace(
            config={"manhole": {"telnetPort": 9999}},
            databases={"data": object()},
            tables={"dogs": object()},
            service=None,
        )

    def start(self, **settings) -> ManholeService:
        """
        Start a console on ephemeral loopback ports, stopped when the test ends.
        """
        options = dict(
            telnet_port=9999,
            ssh_port=9998,
            username="admin",
            password="s3cret",
            namespace=self._namespace,
            ssh_key_dir=self.key_dir,
            bind_ephemeral=True,
        )
        options.update(settings)
        service = ManholeService(reactor, **options)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    @defer.inlineCallbacks
    def connect(self, service: ManholeService, kind: str, client):
        port = service.ports[kind].getHost().port
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        yield endpoint.connect(Factory.forProtocol(lambda: client))
        self.addCleanup(self._disconnect, client)
        return client

    def _disconnect(self, client) -> defer.Deferred[None]:
        transport = client.transport
        if transport.connected:
            transport.loseConnection()
        return client.screen.closed

    @defer.inlineCallbacks
    def telnet(self, service: ManholeService):
        screen = _Screen()
        transport = yield self.connect(
            service, "telnet", TelnetTransport(_TelnetClient, screen)
        )
        transport.screen = screen
        return transport.protocol

    @defer.inlineCallbacks
    def telnet_login(self, service: ManholeService, password: bytes = b"s3cret"):
        client = yield self.telnet(service)
        yield client.screen.wait_for(b"Username: ")
        client.send_line(b"admin")
        yield client.screen.wait_for(b"Password: ")
        client.send_line(password)
        return client

    @defer.inlineCallbacks
    def ssh(self, service: ManholeService, passwords: list[bytes], pty: bool = True):
        client = _SSHClient(b"admin", passwords, pty)
        yield self.connect(service, "ssh", client)
        return client

    def evaluate(self, client, expression: bytes, result: bytes) -> defer.Deferred[bytes]:
        """
        Type C{expression} at the prompt and wait for C{result} on a line of its own (failing
        the test if it never comes).
        """
        client.send_line(expression)
        return client.screen.wait_for(b"\n" + result + b"\r")


class TelnetTests(_ConsoleTestCase):
    """
    The console over telnet.
    """

    @defer.inlineCallbacks
    def test_evaluates_expression_after_login(self):
        """
        After logging in with the right password the prompt appears and expressions typed at it
        are evaluated.
        """
        client = yield self.telnet_login(self.start(ssh_port=None))
        yield client.screen.wait_for(PROMPT)
        yield self.evaluate(client, b"6*7", b"42")

    @defer.inlineCallbacks
    def test_namespace_built_for_each_login(self):
        """
        The namespace callable is not called before a login and is called again for every
        login; its names are visible in the console.
        """
        service = self.start(ssh_port=None)
        self.assertEqual(self.logins, 0)
        for expected_logins in (1, 2):
            client = yield self.telnet_login(service)
            yield client.screen.wait_for(PROMPT)
            self.assertEqual(self.logins, expected_logins)
            yield self.evaluate(client, b"sorted(tables)", b"['dogs']")

    @defer.inlineCallbacks
    def test_show_prints_in_console(self):
        """
        C{show} pretty-prints its argument into the console session.
        """
        client = yield self.telnet_login(self.start(ssh_port=None))
        yield client.screen.wait_for(PROMPT)
        yield self.evaluate(client, b"show(config)", b"{'manhole': {'telnetPort': 9999}}")

    @defer.inlineCallbacks
    def test_wrong_password_reprompts(self):
        """
        A wrong password is answered with C{Authentication failed} and a new username prompt,
        never with the console prompt.
        """
        client = yield self.telnet_login(self.start(ssh_port=None), password=b"wrong")
        output = yield client.screen.wait_for(b"Username: ")
        self.assertIn(b"Authentication failed", output)
        self.assertNotIn(PROMPT, client.screen.received)
        self.assertEqual(self.logins, 0)

    @defer.inlineCallbacks
    def test_wrong_username_refused(self):
        """
        The right password with another username is refused.
        """
        client = yield self.telnet(self.start(ssh_port=None))
        yield client.screen.wait_for(b"Username: ")
        client.send_line(b"root")
        yield client.screen.wait_for(b"Password: ")
        client.send_line(b"s3cret")
        output = yield client.screen.wait_for(b"Username: ")
        self.assertIn(b"Authentication failed", output)

    @defer.inlineCallbacks
    def test_hangs_up_after_three_failures(self):
        """
        The third wrong password on one connection closes it.
        """
        client = yield self.telnet(self.start(ssh_port=None))
        for _ in range(3):
            yield client.screen.wait_for(b"Username: ")
            client.send_line(b"admin")
            yield client.screen.wait_for(b"Password: ")
            client.send_line(b"wrong")
        yield client.screen.closed
        self.assertIn(b"Too many failed login attempts", client.screen.received)
        self.assertEqual(client.screen.received.count(b"Authentication failed"), 2)

    @defer.inlineCallbacks
    def test_line_mode_eof_ends_session(self):
        """
        The C{IAC EOF} a line-mode telnet client sends for Ctrl-D at an empty prompt ends the
        session, as Ctrl-D does over SSH.
        """
        client = yield self.telnet_login(self.start(ssh_port=None))
        yield client.screen.wait_for(PROMPT)
        yield self.evaluate(client, b"6*7", b"42")
        client.transport.transport.write(IAC + LINEMODE_EOF)
        yield client.screen.closed

    @defer.inlineCallbacks
    def test_interrupt_discards_line(self):
        """
        The C{IAC IP} a line-mode telnet client sends for Ctrl-C discards the line being typed.
        """
        client = yield self.telnet_login(self.start(ssh_port=None))
        yield client.screen.wait_for(PROMPT)
        client.transport.transport.write(b"1000+" + IAC + IP)
        yield client.screen.wait_for(b"KeyboardInterrupt")
        yield self.evaluate(client, b"6*7", b"42")

    @defer.inlineCallbacks
    def test_stop_closes_sessions(self):
        """
        Stopping the service closes open console sessions and the listening port.
        """
        service = self.start(ssh_port=None)
        client = yield self.telnet_login(service)
        yield client.screen.wait_for(PROMPT)
        # Once a result is back the server has also seen the client's option negotiation.
        yield self.evaluate(client, b"6*7", b"42")
        yield service.stopService()
        yield client.screen.closed
        self.assertEqual(service.ports, {})


class SSHTests(_ConsoleTestCase):
    """
    The console over SSH.
    """

    @defer.inlineCallbacks
    def test_evaluates_expression_after_login(self):
        """
        After a password login the shell shows the prompt and evaluates expressions, including
        names from the namespace.
        """
        client = yield self.ssh(self.start(telnet_port=None), [b"s3cret"])
        yield client.screen.wait_for(PROMPT)
        self.assertTrue(client.authenticated)
        yield self.evaluate(client.shell, b"6*7", b"42")
        yield self.evaluate(client.shell, b"sorted(databases)", b"['data']")
        self.assertEqual(self.logins, 1)

    @defer.inlineCallbacks
    def test_shell_without_pty(self):
        """
        A client that asks for a shell without a pseudo-terminal still gets a working console.
        """
        client = yield self.ssh(self.start(telnet_port=None), [b"s3cret"], pty=False)
        yield client.screen.wait_for(PROMPT)
        yield self.evaluate(client.shell, b"6*7", b"42")

    @defer.inlineCallbacks
    def test_window_change_accepted(self):
        """
        A window-change request is accepted and the console keeps working.
        """
        client = yield self.ssh(self.start(telnet_port=None), [b"s3cret"])
        yield client.screen.wait_for(PROMPT)
        size = session.packRequest_window_change((40, 120, 0, 0))
        yield client.shell.conn.sendRequest(client.shell, b"window-change", size, wantReply=True)
        yield self.evaluate(client.shell, b"6*7", b"42")

    @defer.inlineCallbacks
    def test_eof_closes_channel(self):
        """
        When the client signals the end of its input, the server closes the shell channel.
        """
        client = yield self.ssh(self.start(telnet_port=None), [b"s3cret"])
        yield client.screen.wait_for(PROMPT)
        client.shell.conn.sendEOF(client.shell)
        yield client.shell.channel_closed

    @defer.inlineCallbacks
    def test_wrong_password_refused(self):
        """
        A wrong password is refused: the client is never authenticated, gets no shell output,
        and the connection ends once it has no other password to try.
        """
        client = yield self.ssh(self.start(telnet_port=None), [b"wrong"])
        yield client.screen.closed
        self.assertFalse(client.authenticated)
        self.assertEqual(client.screen.received, b"")
        self.assertEqual(self.logins, 0)

    @defer.inlineCallbacks
    def test_host_key_reused_across_restarts(self):
        """
        The host key generated on first start is presented again after a restart.
        """
        first = self.start(telnet_port=None)
        client = yield self.ssh(first, [])
        first_key = yield client.host_key
        yield client.screen.closed
        yield first.stopService()
        key_file = self.key_dir.child(HOST_KEY_FILE_NAME)
        stored = key_file.getContent()

        client = yield self.ssh(self.start(telnet_port=None), [])
        second_key = yield client.host_key
        self.assertEqual(second_key, first_key)
        self.assertEqual(key_file.getContent(), stored)


class HostKeyTests(TestCase):
    """
    L{load_or_create_host_key}.
    """

    def setUp(self) -> None:
        self.key_dir = FilePath(self.mktemp())
        self.key_file = self.key_dir.child(HOST_KEY_FILE_NAME)

    def test_created_as_owner_only_pem(self):
        """
        A missing key is generated as a PEM (OpenSSH format) private key readable by its owner
        only, and loading it again gives the same key.
        """
        key = load_or_create_host_key(self.key_dir)
        self.assertEqual(stat.S_IMODE(os.stat(self.key_file.path).st_mode), 0o600)
        pem = self.key_file.getContent()
        self.assertTrue(pem.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----\n"), pem)
        self.assertFalse(key.isPublic())
        self.assertEqual(load_or_create_host_key(self.key_dir), key)

    def test_refuses_key_readable_by_others(self):
        """
        A key file that other users can read is refused with a message saying how to fix it.
        """
        load_or_create_host_key(self.key_dir)
        self.key_file.chmod(0o644)
        error = self.assertRaises(StartupError, load_or_create_host_key, self.key_dir)
        self.assertIn("chmod 600", str(error))

    def test_refuses_public_key(self):
        """
        A public key in place of the private host key is refused.
        """
        public = load_or_create_host_key(self.key_dir).public().toString("openssh")
        self.key_file.setContent(public)
        self.key_file.chmod(0o600)
        error = self.assertRaises(StartupError, load_or_create_host_key, self.key_dir)
        self.assertIn("is a public key", str(error))

    def test_refuses_corrupt_key(self):
        """
        A key file that is not a PEM private key is refused, naming the file.
        """
        self.key_dir.makedirs()
        self.key_file.setContent(b"not a key")
        self.key_file.chmod(0o600)
        error = self.assertRaises(StartupError, load_or_create_host_key, self.key_dir)
        self.assertIn(self.key_file.path, str(error))


class SettingsTests(TestCase):
    """
    L{ManholeService} refuses settings that would expose or break the console.
    """

    def build(self, **settings) -> ManholeService:
        options = dict(
            telnet_port=9999,
            ssh_port=9998,
            username="admin",
            password="s3cret",
            namespace=dict,
            ssh_key_dir=self.mktemp(),
        )
        options.update(settings)
        return ManholeService(reactor, **options)

    def test_non_loopback_host_rejected(self):
        """
        A host outside 127.0.0.0/8 and ::1, or a name instead of an address, is a
        L{ConfigError} naming C{manhole.host}.
        """
        for host in ("0.0.0.0", "192.0.2.1", "::", "localhost", ""):
            error = self.assertRaises(ConfigError, self.build, host=host)
            self.assertIn("manhole.host must be a loopback address", str(error))

    def test_loopback_hosts_accepted(self):
        """
        Any 127.0.0.0/8 address and ::1 are accepted.
        """
        for host in ("127.0.0.1", "127.1.2.3", "::1"):
            self.assertEqual(sorted(s.name for s in self.build(host=host)), ["ssh", "telnet"])

    def test_enabled_port_without_password_rejected(self):
        """
        An enabled port with no password or an empty one is a L{ConfigError}.
        """
        for password in (None, ""):
            error = self.assertRaises(ConfigError, self.build, ssh_port=None, password=password)
            self.assertIn("manhole.password must be set", str(error))

    def test_invalid_port_rejected(self):
        """
        A port that is not an integer from 0 to 65535 is a L{ConfigError} naming the setting.
        """
        for port in (-1, 65536, "9999", True):
            error = self.assertRaises(ConfigError, self.build, telnet_port=port)
            self.assertIn("manhole.telnetPort must be a port number from 0 to 65535", str(error))

    def test_disabled_needs_nothing(self):
        """
        With both ports 0 or absent the console needs no password, starts no listener and
        creates no host key.
        """
        key_dir = FilePath(self.mktemp())
        service = self.build(telnet_port=0, ssh_port=None, password=None, ssh_key_dir=key_dir)
        service.startService()
        self.assertEqual(service.ports, {})
        self.assertEqual(list(service), [])
        service.stopService()
        self.assertFalse(key_dir.exists())

    def test_port_in_use(self):
        """
        A port that cannot be bound is a L{StartupError} naming the listener and the port.
        """
        taken = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
        self.addCleanup(taken.stopListening)
        number = taken.getHost().port
        service = self.build(telnet_port=number, ssh_port=None)
        error = self.assertRaises(StartupError, service.startService)
        self.assertIn(f"cannot listen for telnet on 127.0.0.1 port {number}", str(error))
        self.assertFalse(service.running)


class NamespaceTests(TestCase):
    """
    L{build_namespace} and L{show}.
    """

    def test_names(self):
        """
        The namespace holds exactly the given objects under their names, plus C{show} and the
        module names the interpreter expects.
        """
        config, databases, tables, service = object(), object(), object(), object()
        namespace = build_namespace(
            config=config, databases=databases, tables=tables, service=service
        )
        self.assertIs(namespace["config"], config)
        self.assertIs(namespace["databases"], databases)
        self.assertIs(namespace["tables"], tables)
        self.assertIs(namespace["service"], service)
        self.assertIs(namespace["show"], show)
        self.assertEqual(namespace["__name__"], "__console__")

    def test_fresh_each_time(self):
        """
        Each call returns a new dictionary, so one session's assignments do not leak into
        another's.
        """
        first = build_namespace(config=1, databases=2, tables=3, service=4)
        first["x"] = 1
        self.assertNotIn("x", build_namespace(config=1, databases=2, tables=3, service=4))

    def test_show_pretty_prints(self):
        """
        C{show} writes the pretty-printed value, wrapped to fit the line, to standard output.
        """
        output = io.StringIO()
        self.patch(sys, "stdout", output)
        value = {"name": "x" * 50, "tags": ["a" * 30, "b" * 30]}
        self.assertIsNone(show(value))
        self.assertEqual(
            output.getvalue(),
            "{'name': '" + "x" * 50 + "',\n 'tags': ['" + "a" * 30 + "', '" + "b" * 30 + "']}\n",
        )
