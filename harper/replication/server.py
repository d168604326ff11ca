# -*- test-case-name: tests.replication.test_server -*-
"""
The replication listener: peers open a WebSocket, authenticate in the handshake (with a TLS
certificate signed by C{tls.certificateAuthority}, whose common name is their node name; else
HTTP Basic with the cluster user, or, without one, by connecting from this machine),
subscribe, and are served by a L{harper.replication.stream.Publication}.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from typing import Any, Optional, Protocol

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint
from twisted.logger import Logger

from harper.auth.certificates import peer_common_name, server_options
from harper.replication.stream import Publication
from harper.replication.wire import (
    NODE_HEADER,
    Message,
    ProtocolError,
    Refused,
    Subscribe,
    decode,
    encode,
)


class PeerCheck:
    """
    Decides whether a connecting peer may replicate.

    :param username: the cluster user, or C{None} to accept only peers on this machine.
    :param password: the cluster user's secret.
    """

    def __init__(self, username: Optional[str] = None, password: Optional[str] = None) -> None:
        self._expected = f"{username}:{password}".encode("utf-8") if username is not None else None

    def refusal(self, headers: dict, address: str) -> Optional[str]:
        """
        Why the peer at C{address} with handshake C{headers} is refused, or C{None}.
        """
        if self._expected is None:
            if _is_loopback(address):
                return None
            return "this node accepts peers from other machines only with the cluster user"
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return "the cluster user's credentials are required"
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return "the credentials are not valid base64"
        if not hmac.compare_digest(given, self._expected):
            return "wrong cluster user or password"
        return None


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _impostor(certified: Optional[str], claimed: Optional[str]) -> Optional[str]:
    """
    Why a peer whose certificate names node C{certified} may not act as node C{claimed}, or
    C{None} when it may.
    """
    if certified is None or claimed is None or claimed == certified:
        return None
    return f"the peer's certificate names node {certified!r}, not {claimed!r}"


class Hub(Protocol):
    """
    What the listener needs from the cluster.
    """

    node: str
    check: PeerCheck

    def subscribe(self, request: Subscribe, send: Any, close: Any) -> Publication | str:
        ...

    def unsubscribe(self, publication: Publication) -> None:
        ...

    def progressed(self, publication: Publication) -> None:
        ...


class _ServeProtocol(WebSocketServerProtocol):
    """
    One subscriber's connection.
    """

    _log = Logger()
    publication: Optional[Publication] = None
    #: The node name in the peer's verified TLS certificate, or C{None} without one.
    certified: Optional[str] = None

    def onConnect(self, request: Any) -> tuple[None, dict[str, str]]:
        hub: Hub = self.factory.hub
        address = getattr(self.transport.getPeer(), "host", "")
        self.certified = peer_common_name(self.transport)
        if self.certified is None:
            refusal = hub.check.refusal(request.headers, address)
        else:
            refusal = _impostor(self.certified, request.headers.get(NODE_HEADER))
        if refusal is not None:
            self._log.warn("refused replication peer at {address}: {refusal}", address=address,
                           refusal=refusal)
            raise ConnectionDeny(401, refusal)
        return None, {NODE_HEADER: hub.node}

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.factory.stopping:
            return  # the node is leaving, its database about to close
        try:
            message = decode(payload)
        except ProtocolError as error:
            self._log.error("bad frame from a replication peer: {error}", error=error.message)
            self.dropConnection(abort=False)
            return
        if self.publication is None:
            self._subscribe(message)
        else:
            self.publication.received(message)
            self.factory.hub.progressed(self.publication)

    def _subscribe(self, message: Message) -> None:
        if not isinstance(message, Subscribe):
            self._refuse(f"the first message must subscribe, not {type(message).__name__}")
            return
        refusal = _impostor(self.certified, message.node)
        if refusal is not None:
            self._refuse(refusal)
            return
        result = self.factory.hub.subscribe(message, self._send, self._refuse)
        if isinstance(result, str):
            self._refuse(result)
            return
        self.publication = result
        result.start()

    def _send(self, message: Message) -> None:
        if self.state == self.STATE_OPEN:
            self.sendMessage(encode(message), isBinary=True)

    def _refuse(self, reason: str) -> None:
        self._send(Refused(reason))
        self.dropConnection(abort=False)

    def onOpen(self) -> None:
        if self.factory.stopping:
            # A handshake that ended after the node began to leave: disconnect_all missed it.
            self.dropConnection(abort=True)
            return
        self.closed: Deferred = Deferred()
        self.factory.connections.add(self)

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        if self in self.factory.connections:
            self.factory.connections.discard(self)
            self.closed.callback(None)
        if self.publication is not None:
            self.factory.hub.unsubscribe(self.publication)
            self.publication = None


class ReplicationServerFactory(WebSocketServerFactory):
    """
    The WebSocket factory of the replication listener.

    :param hub: the cluster serving subscriptions.
    :param reactor: the reactor.
    :ivar connections: the open connections.
    :ivar stopping: set by L{disconnect_all}: later connections and messages are dropped.
    """

    protocol = _ServeProtocol

    def __init__(self, hub: Hub, reactor: Any) -> None:
        super().__init__(reactor=reactor)
        self.hub = hub
        self.connections: set[_ServeProtocol] = set()
        self.stopping = False
        self.setProtocolOptions(autoPingInterval=10, autoPingTimeout=10)

    def disconnect_all(self) -> Deferred:
        """
        Drop every open connection (the node is leaving: peers reconnect to it when it is
        back); the Deferred fires once they are closed.
        """
        self.stopping = True
        closing = [connection.closed for connection in self.connections]
        for connection in tuple(self.connections):
            connection.dropConnection(abort=True)
        return gatherResults(closing)


def listen_endpoint(reactor: Any, host: str, port: int, certificate: Optional[str] = None,
                    private_key: Optional[str] = None,
                    certificate_authority: Optional[str] = None) -> Any:
    """
    The endpoint of the replication listener: TLS with C{certificate} and C{private_key}
    (PEM files) when both are given, plain TCP otherwise. With C{certificate_authority} too,
    every peer must present a certificate it signed, and is the node that certificate's
    common name names.

    :raises harper.auth.certificates.BadCertificate: when a file cannot be used.
    """
    if not (certificate and private_key):
        return TCP4ServerEndpoint(reactor, port, interface=host)
    options = server_options(
        certificate, private_key, certificate_authority, require_certificate=True
    )
    return SSL4ServerEndpoint(reactor, port, options, interface=host)
