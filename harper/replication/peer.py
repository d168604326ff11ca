# -*- test-case-name: tests.replication.test_cluster -*-
"""
One outbound link to a peer node: connect over WebSocket (reconnecting with backoff),
subscribe from this node's vector, apply what the peer sends one message at a time, and
confirm each message once its transaction committed.

Applying is serialised: a message is applied only after the previous one committed, and a new
subscription (after a reconnect) is sent only once everything received before was applied, so
the vector it carries is exact.
"""

from __future__ import annotations

import base64
from typing import Any, Callable, Optional

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.application import service
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.logger import Logger

from harper.auth.certificates import client_options, peer_common_name
from harper.replication.entries import CopiedRecord
from harper.replication.replica import Replica
from harper.replication.settings import Route
from harper.replication.wire import (
    NODE_HEADER,
    Ack,
    CopyAck,
    CopyChunk,
    CopyDone,
    Entries,
    Message,
    ProtocolError,
    Refused,
    Subscribe,
    decode,
    encode,
)

def _newest_stamp(record: CopiedRecord) -> float:
    return max(version[0] for version in (record.base, *record.stamps.values()))


def client_tls(route: Route, certificate_authority: Optional[str] = None,
               certificate: Optional[str] = None, private_key: Optional[str] = None) -> Any:
    """
    TLS options for a C{wss://} C{route}: its certificate must name its host and be signed by
    C{certificate_authority} (a PEM file), or by an authority the platform trusts. This node
    presents C{certificate} (with C{private_key}) when given: a peer with a certificate
    authority takes this node's name from it.

    :raises harper.auth.certificates.BadCertificate: when a file cannot be used.
    """
    return client_options(route.host, certificate_authority, certificate, private_key)


def basic_authorization(username: str, password: str) -> str:
    """
    The C{Authorization} header value for C{username} and C{password}.
    """
    token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


class _LinkProtocol(WebSocketClientProtocol):
    """
    Frames for a L{PeerLink}: every event goes to the factory's link.
    """

    def send(self, message: Message) -> None:
        """
        Send C{message} unless the connection is already closing.
        """
        if self.state == self.STATE_OPEN:
            self.sendMessage(encode(message), isBinary=True)

    def onConnect(self, response: Any) -> None:
        self.factory.link.handshake(self, response.headers)

    def onOpen(self) -> None:
        self.factory.link.opened(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.link.received(self, payload)

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        self.factory.link.closed(self, reason)


class PeerLink(service.Service):
    """
    Pulls one peer's changes into this node.

    :param route: the peer.
    :param replica: this node's data.
    :param reactor: the reactor (TCP, time).
    :param node_url: where the peer can reach this node, or C{None}.
    :param authorization: the C{Authorization} header to send, or C{None}.
    :param tls: client TLS options for C{wss://} routes.
    :param retry_policy: seconds to wait before reconnect attempt N (L{backoffPolicy}).
    :param on_applied: called after each applied message (new entries may need forwarding).
    :ivar peer: the peer's node name, once known.
    :ivar state: C{"connecting"}, C{"copying"} (base copy) or C{"streaming"}.
    :ivar position: the position in the peer's log applied here.
    :ivar peer_head: the peer's newest position, as last reported.
    :ivar copies: how many base copies this link received.
    :ivar refusal: why the peer last refused to serve this node, or C{None}.
    :ivar latency: milliseconds between the last applied entry's commit on its origin and
        its commit here, or C{None}.
    :ivar last_received: the origin's timestamp of the last applied entry and when it was
        applied here (epoch ms), or C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        route: Route,
        replica: Replica,
        reactor: Any,
        *,
        node_url: Optional[str] = None,
        authorization: Optional[str] = None,
        tls: Any = None,
        retry_policy: Optional[Callable[[int], float]] = None,
        on_applied: Callable[[], None] = lambda: None,
    ) -> None:
        self.route = route
        self.replica = replica
        self.peer = route.name
        self.state = "connecting"
        self.position = 0
        self.peer_head = 0
        self.copies = 0
        self.refusal: Optional[str] = None
        self.latency: Optional[float] = None
        self.last_received: Optional[tuple[float, float]] = None
        self._reactor = reactor
        self._node_url = node_url
        self._on_applied = on_applied
        self._protocol: Optional[_LinkProtocol] = None
        self._lock = DeferredLock()
        headers = {NODE_HEADER: replica.node}
        if authorization is not None:
            headers["Authorization"] = authorization
        self._factory = WebSocketClientFactory(route.url, headers=headers, reactor=reactor)
        self._factory.protocol = _LinkProtocol
        self._factory.link = self
        self._factory.setProtocolOptions(autoPingInterval=10, autoPingTimeout=10)
        endpoint = HostnameEndpoint(reactor, route.host, route.port)
        if route.secure:
            endpoint = wrapClientTLS(tls, endpoint)
        policy = retry_policy or backoffPolicy(0.25, 15.0)
        self._client = ClientService(endpoint, self._factory, retryPolicy=policy, clock=reactor)

    @property
    def connected(self) -> bool:
        """
        Whether the link is open.
        """
        return self._protocol is not None

    def startService(self) -> None:
        super().startService()
        self._client.startService()

    def stopService(self) -> Deferred:
        super().stopService()
        return self._client.stopService()

    def disconnect(self) -> None:
        """
        Drop the current connection (it is made again after the retry delay).
        """
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            self.state = "connecting"
            protocol.dropConnection(abort=False)

    def status(self) -> dict[str, Any]:
        """
        The link's state for C{cluster_status}.
        """
        return {
            "url": self.route.url,
            "name": self.peer,
            "connected": self.connected,
            "state": self.state,
            "position": self.position,
            "peerHead": self.peer_head,
            "lag": max(0, self.peer_head - self.position),
            "latency": self.latency,
            "lastReceivedRemoteTime": self.last_received[0] if self.last_received else None,
            "lastReceivedLocalTime": self.last_received[1] if self.last_received else None,
            "baseCopies": self.copies,
            "refusal": self.refusal,
        }

    # -- events from the protocol ----------------------------------------------------------

    def handshake(self, protocol: _LinkProtocol, headers: dict) -> None:
        """
        The peer accepted the WebSocket; learn its name: over TLS, the common name of its
        verified certificate, else what it says.
        """
        name = headers.get(NODE_HEADER)
        certified = peer_common_name(protocol.transport)
        if certified is not None and "*" not in certified:
            if name != certified:
                self._log.warn("{url} says it is {name}; its certificate names {certified}",
                               url=self.route.url, name=name, certified=certified)
            name = certified
        if isinstance(name, str) and name:
            self.peer = name

    def opened(self, protocol: _LinkProtocol) -> None:
        """
        The link is open: subscribe once everything received before is applied.
        """
        if self.peer is None:
            self._log.warn("peer {url} did not say its node name; closing", url=self.route.url)
            protocol.dropConnection(abort=False)
            return
        self._protocol = protocol
        self.state = "connecting"
        self._lock.run(self._subscribe, protocol).addErrback(self._failed, protocol)

    def closed(self, protocol: _LinkProtocol, reason: Any) -> None:
        """
        The link closed: forget everything queued for it.
        """
        if protocol is self._protocol:
            self._protocol = None
            self.state = "connecting"
            self._log.info("link to {peer} closed: {reason}", peer=self.peer or self.route.url,
                           reason=reason)

    def received(self, protocol: _LinkProtocol, payload: bytes) -> None:
        """
        A frame from the peer.
        """
        if protocol is not self._protocol:
            return
        try:
            message = decode(payload)
        except ProtocolError as error:
            self._log.error("bad frame from {peer}: {error}", peer=self.peer, error=error.message)
            protocol.dropConnection(abort=False)
            return
        self._dispatch(protocol, message)

    # -- applying --------------------------------------------------------------------------

    def _dispatch(self, protocol: _LinkProtocol, message: Message) -> None:
        handlers = {
            Entries: self._on_entries,
            CopyChunk: self._on_chunk,
            CopyDone: self._on_copy_done,
            Refused: self._on_refused,
        }
        handler = handlers.get(type(message))
        if handler is None:
            self._log.error("unexpected {message} from {peer}", message=type(message).__name__,
                            peer=self.peer)
            protocol.dropConnection(abort=False)
            return
        handler(protocol, message)

    def _on_entries(self, protocol: _LinkProtocol, message: Entries) -> None:
        self.peer_head = max(self.peer_head, message.head)
        newest = None
        if message.entries:
            newest = max(entry.timestamp for entry in message.entries)
            self.replica.observe(newest)
        applier, peer = self.replica.applier, self.peer
        self._queue(
            protocol,
            lambda txn: applier.apply_entries(txn, peer, message.entries, message.through),
            lambda _: self._applied(protocol, message.through, newest),
        )

    def _on_chunk(self, protocol: _LinkProtocol, message: CopyChunk) -> None:
        self.state = "copying"
        if message.records:
            self.replica.observe(max(map(_newest_stamp, message.records)))
        self._queue(
            protocol,
            lambda txn: self.replica.applier.apply_copy(txn, message.records),
            lambda _: protocol.send(CopyAck(message.number)),
        )

    def _on_copy_done(self, protocol: _LinkProtocol, message: CopyDone) -> None:
        applier, peer = self.replica.applier, self.peer
        self._queue(
            protocol,
            lambda txn: applier.finish_copy(txn, peer, dict(message.vector), message.through),
            lambda _: self._copied(protocol, message.through),
        )

    def _on_refused(self, protocol: _LinkProtocol, message: Refused) -> None:
        self.refusal = message.reason
        self._log.warn("{peer} refused to serve this node: {reason}", peer=self.peer,
                       reason=message.reason)
        protocol.dropConnection(abort=False)

    def _queue(
        self, protocol: _LinkProtocol, work: Callable[[Any], Any], done: Callable[[Any], None]
    ) -> None:
        def step() -> Optional[Deferred]:
            if protocol is not self._protocol:
                return None
            return self.replica.write(work).addCallback(self._done, protocol, done)

        self._lock.run(step).addErrback(self._failed, protocol)

    def _done(self, result: Any, protocol: _LinkProtocol, done: Callable[[Any], None]) -> None:
        self._on_applied()
        if protocol is self._protocol:
            done(result)

    def _copied(self, protocol: _LinkProtocol, through: int) -> None:
        self.copies += 1
        self._applied(protocol, through, None)

    def _applied(self, protocol: _LinkProtocol, through: int, newest: Optional[float]) -> None:
        self.position = max(self.position, through)
        self.state = "streaming"
        self.refusal = None
        if newest is not None:
            now = self._reactor.seconds() * 1000.0
            self.latency = max(0.0, now - newest)
            self.last_received = (newest, now)
        protocol.send(Ack(through))

    def _subscribe(self, protocol: _LinkProtocol) -> None:
        if protocol is not self._protocol:
            return
        log = self.replica.log
        vector, position = self.replica.read(
            lambda txn: (log.vector(txn), log.position(txn, self.peer))
        )
        self.position = max(self.position, position)
        request = Subscribe(self.replica.node, self._node_url, vector, self.replica.databases)
        protocol.send(request)

    def _failed(self, failure: Any, protocol: _LinkProtocol) -> None:
        self._log.failure("applying changes from {peer} failed; reconnecting", failure,
                          peer=self.peer)
        if protocol is self._protocol:
            self._protocol = None
            protocol.dropConnection(abort=False)
