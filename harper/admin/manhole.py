# -*- test-case-name: tests.admin.test_manhole -*-
"""
The operator's Python console (a Twisted manhole) over telnet and SSH, on loopback only.

Both listeners share one L{Portal}: a L{ConsoleRealm} that hands out a colouring Python
interpreter whose namespace is built afresh for every login, and an L{AdminPasswordChecker}
for the single configured admin account. The SSH host key is an Ed25519 key generated on first
start and kept as a PEM file (OpenSSH format, so C{ssh-keygen -l} can show its fingerprint)
readable by its owner only.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from functools import partial
from typing import Callable, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twisted.application.service import MultiService, Service
from twisted.conch.insults.insults import ServerProtocol
from twisted.conch.interfaces import IConchUser
from twisted.conch.manhole import ColoredManhole
from twisted.conch.manhole_ssh import ConchFactory, TerminalRealm, TerminalSession
from twisted.conch.ssh.keys import BadKeyError, EncryptedKeyError, Key
from twisted.conch.telnet import (
    IP,
    LINEMODE_ABORT,
    LINEMODE_EOF,
    LINEMODE_SUSP,
    AuthenticatingTelnetProtocol,
    ITelnetProtocol,
    TelnetBootstrapProtocol,
    TelnetTransport,
)
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorTCP
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.python.compat import iterbytes
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from zope.interface import implementer

from harper.errors import ConfigError, StartupError

HOST_KEY_FILE_NAME = "ssh_host_ed25519_key"
_SETTING_NAMES = {"telnet": "manhole.telnetPort", "ssh": "manhole.sshPort"}
# What the console receives for the signals a line-mode telnet client sends instead of keys.
_TELNET_SIGNAL_KEYS = {LINEMODE_EOF: b"\x04", IP: b"\x03", LINEMODE_SUSP: b"", LINEMODE_ABORT: b""}


@implementer(ICredentialsChecker)
class AdminPasswordChecker:
    """
    Accept exactly one username/password pair, comparing both in constant time.
    """

    credentialInterfaces = (IUsernamePassword,)
    _log = Logger()

    def __init__(self, username: str, password: str) -> None:
        """
        :param username: the only accepted username.
        :param password: its password.
        """
        self._username = username.encode("utf-8")
        self._password = password.encode("utf-8")

    def requestAvatarId(self, credentials: IUsernamePassword) -> defer.Deferred[bytes]:
        """
        Succeed with the username when both username and password (bytes, as telnet and SSH
        deliver them) match, else fail with L{UnauthorizedLogin}.
        """
        username_matches = hmac.compare_digest(credentials.username, self._username)
        password_matches = hmac.compare_digest(credentials.password, self._password)
        if username_matches and password_matches:
            return defer.succeed(credentials.username)
        self._log.warn("Refused admin console login as {user!r}", user=credentials.username)
        return defer.fail(UnauthorizedLogin("wrong username or password"))


class ConsoleSession(TerminalSession):
    """
    An SSH shell session running the console, which also copes with clients that open a shell
    without a pseudo-terminal, resize their window, or close their input.

    :ivar width: terminal columns, until the client tells otherwise.
    :ivar height: terminal rows, until the client tells otherwise.
    """

    width = 80
    height = 24
    _terminal: ServerProtocol | None = None

    def openShell(self, proto) -> None:
        """
        Start the console on this session's channel.
        """
        self._terminal = self.chainedProtocolFactory()
        self.transportFactory(
            proto, self._terminal, IConchUser(self.original), self.width, self.height
        )

    def windowChanged(self, newWindowSize: tuple[int, int, int, int]) -> None:
        """
        Tell the console its new size, given as (rows, columns, x pixels, y pixels).
        """
        self.height, self.width = newWindowSize[:2]
        if self._terminal is not None:
            self._terminal.terminalProtocol.terminalSize(self.width, self.height)

    def eofReceived(self) -> None:
        """
        End the session when the client has no more input for it.
        """
        if self._terminal is not None:
            self._terminal.loseConnection()


@implementer(IRealm)
class ConsoleRealm(TerminalRealm):
    """
    Give every authenticated telnet or SSH login its own Python console.

    The namespace callable is called once per login, so the console always sees the current
    state of the daemon.
    """

    sessionFactory = ConsoleSession
    _log = Logger()

    def __init__(self, namespace: Callable[[], dict]) -> None:
        """
        :param namespace: builds the console's global names for one login.
        """
        super().__init__()
        self._namespace = namespace
        self.chainedProtocolFactory = self._terminal_protocol

    def _terminal_protocol(self) -> ServerProtocol:
        return ServerProtocol(ColoredManhole, self._namespace())

    def requestAvatar(self, avatarId: bytes, mind: object, *interfaces):
        """
        Return a telnet console protocol or an SSH user, whichever the login asked for.
        """
        self._log.info("Admin console login as {user!r}", user=avatarId)
        if ITelnetProtocol in interfaces:
            console = TelnetBootstrapProtocol(ServerProtocol, ColoredManhole, self._namespace())
            return ITelnetProtocol, console, lambda: None
        return super().requestAvatar(avatarId, mind, *interfaces)


class TelnetLogin(AuthenticatingTelnetProtocol):
    """
    Telnet username/password prompt that hangs up after too many failed attempts (by extending
    the failure callback of Twisted's prompt, its only hook for that).

    :ivar max_attempts: failed logins allowed on one connection before it is closed.
    """

    max_attempts = 3
    _log = Logger()
    _failures = 0

    def _ebLogin(self, failure: Failure) -> None:
        if not failure.check(UnauthorizedLogin):
            self._log.failure("Admin console login failed", failure)
        self._failures += 1
        if self._failures < self.max_attempts:
            super()._ebLogin(failure)
            return
        self.transport.write(b"\nToo many failed login attempts\n")
        self.transport.loseConnection()


class ConsoleTelnetTransport(TelnetTransport):
    """
    Telnet transport that turns the signals a line-mode client sends for Ctrl-D and Ctrl-C
    (C{IAC EOF}, C{IAC IP}) back into those keys and ignores C{IAC SUSP} and C{IAC ABORT}.

    Twisted's parser drops the connection with an error on the line-mode signals and ignores
    C{IAC IP}, so without this Ctrl-D and Ctrl-C would not work from a C{telnet} client.
    """

    def dataReceived(self, data: bytes) -> None:
        for byte in iterbytes(data):
            if self.state == "escaped" and byte in _TELNET_SIGNAL_KEYS:
                self.state = "data"
                if _TELNET_SIGNAL_KEYS[byte]:
                    self.applicationDataReceived(_TELNET_SIGNAL_KEYS[byte])
            else:
                super().dataReceived(byte)


def load_or_create_host_key(directory: FilePath) -> Key:
    """
    Load the SSH host key kept in C{directory}, creating the directory and the key first if
    needed.

    :raises StartupError: the key file is readable by other users or is not an unencrypted
        private key.
    """
    key_file = directory.child(HOST_KEY_FILE_NAME)
    if not key_file.exists():
        _write_new_key(directory, key_file)
    mode = stat.S_IMODE(os.stat(key_file.path).st_mode)
    if mode & 0o077:
        raise StartupError(
            [f"SSH host key {key_file.path} is accessible to other users "
             f"(mode {mode:o}); run: chmod 600 {key_file.path}"]
        )
    try:
        key = Key.fromString(key_file.getContent())
    except (BadKeyError, EncryptedKeyError) as problem:
        raise StartupError(
            [f"SSH host key {key_file.path} is not a usable private key ({problem}); "
             "remove it to have a new one generated"]
        ) from problem
    if key.isPublic():
        raise StartupError([f"SSH host key {key_file.path} is a public key, not a private key"])
    return key


def _write_new_key(directory: FilePath, key_file: FilePath) -> None:
    directory.makedirs(ignoreExistingDirectory=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_file.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, pem)
    finally:
        os.close(descriptor)
    key_file.changed()


class _ConnectionTrackingFactory(WrappingFactory):
    """
    Keep track of the open connections of a wrapped factory, so they can all be closed.
    """

    def __init__(self, wrappedFactory: ServerFactory) -> None:
        super().__init__(wrappedFactory)
        self._closing: dict[object, defer.Deferred[None]] = {}

    def close_connections(self) -> defer.Deferred[list[None]]:
        """
        Close every open connection; fire once all of them are closed.
        """
        closed = []
        for connection in list(self.protocols):
            closed.append(self._closing.setdefault(connection, defer.Deferred()))
            connection.transport.loseConnection()
        return defer.gatherResults(closed)

    def unregisterProtocol(self, p) -> None:
        super().unregisterProtocol(p)
        closed = self._closing.pop(p, None)
        if closed is not None:
            closed.callback(None)


class _TCPListener(Service):
    """
    Listen on one TCP port while running; stopping also closes the connections it accepted.

    :ivar port: the listening port while running, else C{None}.
    """

    port: IListeningPort | None = None

    def __init__(
        self, reactor: IReactorTCP, factory: ServerFactory, number: int, interface: str
    ) -> None:
        self._reactor = reactor
        self._factory = _ConnectionTrackingFactory(factory)
        self._number = number
        self._interface = interface

    def startService(self) -> None:
        try:
            self.port = self._reactor.listenTCP(
                self._number, self._factory, interface=self._interface
            )
        except CannotListenError as problem:
            raise StartupError(
                [f"manhole: cannot listen for {self.name} on "
                 f"{self._interface} port {self._number}: {problem.socketError}"]
            ) from problem
        super().startService()

    def stopService(self) -> defer.Deferred[object] | None:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        return defer.gatherResults(
            [defer.maybeDeferred(port.stopListening), self._factory.close_connections()]
        )


class ManholeService(MultiService):
    """
    The admin console: a Python prompt inside the daemon, over telnet and/or SSH on loopback.

    A port of C{None} or C{0} disables that listener. Each running listener is a child service
    named C{"telnet"} or C{"ssh"}; L{ports} gives their listening ports once started.
    """

    _log = Logger()

    def __init__(
        self,
        reactor: IReactorTCP,
        *,
        host: str = "127.0.0.1",
        telnet_port: int | None = None,
        ssh_port: int | None = None,
        username: str = "admin",
        password: str | None = None,
        namespace: Callable[[], dict],
        ssh_key_dir: FilePath | str,
        bind_ephemeral: bool = False,
    ) -> None:
        """
        :param reactor: listens for the connections.
        :param host: loopback address to listen on (C{127.0.0.0/8} or C{::1}).
        :param telnet_port: telnet port; C{None} or C{0} disables telnet.
        :param ssh_port: SSH port; C{None} or C{0} disables SSH.
        :param username: the admin account's name.
        :param password: its password; required when a port is enabled.
        :param namespace: called on every login to build the console's names.
        :param ssh_key_dir: directory holding the SSH host key.
        :param bind_ephemeral: bind every enabled listener to a port the system picks instead
            of its configured number (for tests; read the result from L{ports}).
        :raises ConfigError: a setting is invalid, or a port is enabled with no password or on a
            non-loopback host.
        """
        super().__init__()
        numbers = {"telnet": telnet_port, "ssh": ssh_port}
        problems = _settings_problems(host, numbers, username, password)
        if problems:
            raise ConfigError(problems)
        self._key_dir = ssh_key_dir if isinstance(ssh_key_dir, FilePath) else FilePath(ssh_key_dir)
        self._ssh_factory: ConchFactory | None = None
        enabled = {name: number for name, number in numbers.items() if number}
        if not enabled:
            return
        portal = Portal(ConsoleRealm(namespace), [AdminPasswordChecker(username, password)])
        for name, number in enabled.items():
            factory = _telnet_factory(portal) if name == "telnet" else ConchFactory(portal)
            if name == "ssh":
                self._ssh_factory = factory
            listener = _TCPListener(reactor, factory, 0 if bind_ephemeral else number, host)
            listener.setName(name)
            listener.setServiceParent(self)

    @property
    def ports(self) -> dict[str, IListeningPort]:
        """
        The listening port of each running listener, by C{"telnet"} or C{"ssh"}.
        """
        return {listener.name: listener.port for listener in self if listener.port is not None}

    def startService(self) -> None:
        """
        Load or create the SSH host key if SSH is enabled, then start listening.

        :raises StartupError: the host key is unusable or a port cannot be bound.
        """
        if self._ssh_factory is not None:
            key = load_or_create_host_key(self._key_dir)
            self._ssh_factory.publicKeys = {key.sshType(): key.public()}
            self._ssh_factory.privateKeys = {key.sshType(): key}
        try:
            super().startService()
        except StartupError:
            self.stopService()
            raise
        for name, port in self.ports.items():
            self._log.info("Admin console ({name}) on {address}", name=name, address=port.getHost())


def _telnet_factory(portal: Portal) -> ServerFactory:
    factory = ServerFactory()
    factory.protocol = partial(ConsoleTelnetTransport, TelnetLogin, portal)
    return factory


def _settings_problems(
    host: str, numbers: dict[str, int | None], username: str, password: str | None
) -> Sequence[str]:
    problems = [
        f"{_SETTING_NAMES[name]} must be a port number from 0 to 65535 (0 disables), "
        f"not {number!r}"
        for name, number in numbers.items()
        if number is not None and not _is_port_number(number)
    ]
    if problems or not any(numbers.values()):
        return problems
    if not _is_loopback(host):
        problems.append(
            f"manhole.host must be a loopback address such as 127.0.0.1 or ::1, not {host!r}: "
            "the admin console gives full control of the daemon"
        )
    if not username:
        problems.append("manhole.username must be set when the admin console is enabled")
    if not password:
        problems.append("manhole.password must be set when the admin console is enabled")
    return problems


def _is_port_number(number: object) -> bool:
    return isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 65535


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
