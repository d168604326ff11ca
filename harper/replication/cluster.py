# -*- test-case-name: tests.replication.test_cluster -*-
"""
The replication service of a node: the listener peers subscribe through, one
L{harper.replication.peer.PeerLink} per route, and the upkeep of the log (confirmations
recorded, old entries pruned, tombstones every peer confirmed purged).

Routes can be added, changed and removed while the node runs (L{ReplicationCluster.add_node},
L{ReplicationCluster.update_node}, L{ReplicationCluster.remove_node});
L{ReplicationCluster.cluster_status} reports every peer. A peer that subscribes without a route
here is replicated back from the URL it announces.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Union

from twisted.application import service
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harper.database.transaction import Transaction
from harper.errors import ConfigError, InvalidInput, NotFound
from harper.replication.log import replication_state
from harper.replication.peer import PeerLink, basic_authorization, client_tls
from harper.replication.replica import Replica
from harper.replication.server import PeerCheck, ReplicationServerFactory, listen_endpoint
from harper.replication.settings import ClusterSettings, Route, parse_route
from harper.replication.stream import Publication
from harper.replication.wire import Subscribe

_ROUTE_FIELDS = frozenset({"name", "sends", "receives"})


class ReplicationCluster(service.MultiService):
    """
    Everything that makes one node replicate.

    :param settings: this node's replication settings.
    :param replica: this node's replicated data.
    :param reactor: the reactor.
    :param upkeep_interval: seconds between two upkeep passes.
    :param retry_policy: reconnect delays of the links (see L{PeerLink}).
    :ivar node: this node's name.
    :ivar check: decides which peers may connect.
    :ivar port: the listening port, once listening.
    :ivar ready: fires once the listener listens and the configured routes are linked (fails
        when the port cannot be listened on).
    """

    _log = Logger()

    def __init__(
        self,
        settings: ClusterSettings,
        replica: Replica,
        reactor: Any,
        *,
        upkeep_interval: float = 60.0,
        retry_policy: Optional[Callable[[int], float]] = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.replica = replica
        self.node = settings.node
        self.check = PeerCheck(settings.username, settings.password)
        self.port: Any = None
        self.ready: Deferred = Deferred()
        self._reactor = reactor
        self._retry_policy = retry_policy
        self._factory = ReplicationServerFactory(self, reactor)
        self._routes: dict[str, Route] = {}
        self._links: dict[str, PeerLink] = {}
        self._removed: set[str] = set()
        self._publications: set[Publication] = set()
        self._confirmed: dict[str, int] = {}
        self._wake_call: Any = None
        self._stop_watching: Optional[Callable[[], None]] = None
        self._upkeep = LoopingCall(self.upkeep)
        self._upkeep.clock = reactor
        self._upkeep_interval = upkeep_interval

    # -- life cycle ------------------------------------------------------------------------

    def startService(self) -> None:
        self.replica.start_recording()
        self._confirmed = self.replica.read(
            lambda txn: dict(replication_state(txn).confirmed.items())
        )
        self._stop_watching = self.replica.runner.feed.listen(lambda event: self.wake())
        super().startService()
        self._upkeep.start(self._upkeep_interval, now=False)
        self._listen().addCallback(self._link_routes).chainDeferred(self.ready)

    def stopService(self) -> Deferred:
        if self._upkeep.running:
            self._upkeep.stop()
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
        if self._wake_call is not None and self._wake_call.active():
            self._wake_call.cancel()
        self.replica.stop_recording()
        for publication in self._publications:
            publication.stop()
        stopping = [self._factory.disconnect_all(), super().stopService()]
        if self.port is not None:
            stopping.append(self.port.stopListening())
            self.port = None
        return gatherResults([d for d in stopping if d is not None])

    def _listen(self) -> Deferred:
        settings = self.settings
        if settings.port is None:
            return succeed(None)
        endpoint = listen_endpoint(
            self._reactor, settings.host, settings.port, settings.certificate, settings.private_key
        )
        return endpoint.listen(self._factory).addCallback(self._listening)

    def _listening(self, port: Any) -> Any:
        self.port = port
        self._log.info("replication of {node} listening on {address}", node=self.node,
                       address=port.getHost())
        return port

    def _link_routes(self, port: Any) -> Any:
        for route in self.settings.routes:
            self.add_node(route)
        return port

    @property
    def url(self) -> Optional[str]:
        """
        Where peers reach this node: the configured URL, else that of a loopback listener.
        """
        if self.settings.url is not None:
            return self.settings.url
        if self.port is None or self.settings.host not in ("127.0.0.1", "localhost"):
            return None
        scheme = "wss" if self.settings.certificate and self.settings.private_key else "ws"
        return f"{scheme}://{self.settings.host}:{self.port.getHost().port}"

    # -- routes ----------------------------------------------------------------------------

    def add_node(
        self, route: Union[str, Mapping[str, Any], Route], *, name: Optional[str] = None,
        sends: bool = True, receives: bool = True,
    ) -> Route:
        """
        Replicate with the node at C{route} (a URL, a route mapping as in the configuration,
        or a L{Route}); return its route. A URL already routed is replaced.

        :raises InvalidInput: when C{route} is not a WebSocket URL.
        """
        if not isinstance(route, Route):
            try:
                parsed = parse_route(route)
            except ConfigError as error:
                raise InvalidInput("; ".join(error.problems)) from None
            route = Route(
                parsed.url,
                name or parsed.name,
                sends and parsed.sends,
                receives and parsed.receives,
            )
        self._removed.difference_update({route.url, route.name})
        if route.url in self._routes:
            self._drop_link(route.url)
        self._routes[route.url] = route
        if route.receives:
            link = PeerLink(
                route, self.replica, self._reactor,
                node_url=self.url if route.sends else None,
                authorization=self._authorization(),
                tls=self._client_tls(route),
                retry_policy=self._retry_policy,
                on_applied=self.wake,
            )
            self._links[route.url] = link
            link.setServiceParent(self)
        return route

    def update_node(self, url: str, **changes: Any) -> Route:
        """
        Change the route of C{url} (C{name}, C{sends}, C{receives}); its link reconnects.

        :raises NotFound: when no route has that URL.
        :raises InvalidInput: for another field.
        """
        unknown = set(changes) - _ROUTE_FIELDS
        if unknown:
            raise InvalidInput(
                f"update_node: unknown fields {sorted(unknown)} (allowed: name, sends, receives)"
            )
        route = self._routes.get(url)
        if route is None:
            raise NotFound(f"no replication route to {url!r}")
        fields = {"name": route.name, "sends": route.sends, "receives": route.receives, **changes}
        return self.add_node(
            Route(url, fields["name"], bool(fields["sends"]), bool(fields["receives"]))
        )

    def remove_node(self, node: str) -> Deferred:
        """
        Stop replicating with C{node} (a route URL or a peer's name): close the link, end its
        subscription, refuse it from now on (until added again) and forget what it confirmed;
        the Deferred fires once the link is closed.

        :raises NotFound: when no route matches.
        """
        url = self._route_url(node)
        route = self._routes[url]
        link = self._links.get(url)
        name = (link.peer if link is not None else None) or route.name
        closed = self._drop_link(url)
        del self._routes[url]
        self._removed.update({url, name} - {None})
        if name is not None:
            self._confirmed.pop(name, None)
            for publication in tuple(self._publications):
                if publication.subscriber == name:
                    publication.end(f"{self.node} removed {name} from its cluster")
                    self.unsubscribe(publication)
            self.replica.write(lambda txn: self.replica.log.forget_peer(txn, name)).addErrback(
                self._log.failure, "forgetting {peer} failed", peer=name)
        return closed

    def links(self) -> list[PeerLink]:
        """
        The outbound links, in the order they were added.
        """
        return list(self._links.values())

    def _drop_link(self, url: str) -> Deferred:
        link = self._links.pop(url, None)
        if link is None:
            return succeed(None)
        return link.disownServiceParent() or succeed(None)

    def _route_url(self, node: str) -> str:
        if node in self._routes:
            return node
        for url, route in self._routes.items():
            link = self._links.get(url)
            if route.name == node or (link is not None and link.peer == node):
                return url
        raise NotFound(f"no replication route to {node!r}")

    # -- serving subscribers ----------------------------------------------------------------

    def subscribe(
        self, request: Subscribe, send: Any, close: Callable[[str], None]
    ) -> Union[Publication, str]:
        """
        Serve C{request} through C{send} (C{close} ends it), or return why not.
        """
        if request.node == self.node:
            return f"{self.node} cannot subscribe to itself"
        if request.node in self._removed or request.url in self._removed:
            return f"{self.node} removed {request.node} from its cluster"
        route = self._route_of(request.node, request.url)
        if route is not None and not route.sends:
            return f"{self.node} does not send its changes to {request.node}"
        publication = Publication(self.replica, request, send, close)
        self._publications.add(publication)
        if route is None and request.url is not None:
            self._log.info("{peer} subscribed; replicating back from {url}", peer=request.node,
                           url=request.url)
            self.add_node(Route(request.url, request.node))
        return publication

    def unsubscribe(self, publication: Publication) -> None:
        """
        C{publication}'s subscriber went away.
        """
        publication.stop()
        self._publications.discard(publication)
        self._record_confirmed(publication)

    def wake(self) -> None:
        """
        New entries may be in the log: let every subscriber's stream send them (once per
        reactor turn, however many changes were committed).
        """
        if self._wake_call is None or not self._wake_call.active():
            self._wake_call = self._reactor.callLater(0, self._pump_all)

    def _pump_all(self) -> None:
        for publication in tuple(self._publications):
            publication.pump()

    def _route_of(self, name: str, url: Optional[str]) -> Optional[Route]:
        for route_url, route in self._routes.items():
            link = self._links.get(route_url)
            if route_url == url or route.name == name or (link is not None and link.peer == name):
                return route
        return None

    def _record_confirmed(self, publication: Publication) -> None:
        current = self._confirmed.get(publication.subscriber, 0)
        self._confirmed[publication.subscriber] = max(current, publication.confirmed)

    # -- upkeep ------------------------------------------------------------------------------

    def upkeep(self) -> Deferred:
        """
        Record what peers confirmed, prune log entries older than the retention and purge
        the tombstones every peer confirmed (a failure is logged; the next pass retries).
        """
        for publication in self._publications:
            self._record_confirmed(publication)
        confirmed = dict(self._confirmed)
        cutoff = (self._reactor.seconds() - self.settings.retention) * 1000.0
        d = self.replica.write(lambda txn: self._upkeep_work(txn, confirmed, cutoff))
        return d.addErrback(self._log.failure, "replication upkeep failed")

    def _upkeep_work(self, txn: Transaction, confirmed: dict[str, int], cutoff: float) -> None:
        log = self.replica.log
        log.set_confirmed(txn, confirmed)
        log.prune(txn, cutoff)
        through = self._purge_point(txn)
        if through:
            self.replica.versions.purge(txn, through)

    def _purge_point(self, txn: Transaction) -> int:
        """
        The newest position of this log that every peer confirmed (0 while a linked peer's
        name is not known yet).
        """
        state = replication_state(txn)
        peers = set(state.confirmed.keys())
        for link in self._links.values():
            if link.peer is None:
                return 0
            peers.add(link.peer)
        if not peers:
            return state.head
        return min(state.confirmed.get(peer, 0) for peer in peers)

    # -- status ------------------------------------------------------------------------------

    def cluster_status(self) -> dict[str, Any]:
        """
        This node's name, URL and log head, and one connection per peer: the outbound link
        (C{connected}, C{state}, C{position} in the peer's log, C{peerHead}, C{lag} in
        entries, C{latency} in ms, C{baseCopies}) and what the peer confirmed of this node's
        log (C{subscribed}, C{confirmed}, C{behind}).
        """
        head = self.replica.read(self.replica.log.head)
        for publication in self._publications:
            self._record_confirmed(publication)
        subscribed = {p.subscriber for p in self._publications}
        connections = [
            {**link.status(), **self._served(link.peer, head, subscribed)}
            for link in self._links.values()
        ]
        linked = {link.peer for link in self._links.values()}
        for name in sorted(subscribed - linked):
            connections.append({"url": None, "name": name, "connected": False, "state": None,
                                **self._served(name, head, subscribed)})
        return {
            "nodeName": self.node,
            "url": self.url,
            "isEnabled": True,
            "head": head,
            "connections": connections,
        }

    def _served(self, name: Optional[str], head: int, subscribed: set) -> dict[str, Any]:
        confirmed = self._confirmed.get(name, 0) if name is not None else 0
        return {
            "subscribed": name in subscribed,
            "confirmed": confirmed,
            "behind": max(0, head - confirmed),
        }

    def _client_tls(self, route: Route) -> Any:
        return client_tls(route, self.settings.certificate_authority) if route.secure else None

    def _authorization(self) -> Optional[str]:
        if self.settings.username is None:
            return None
        return basic_authorization(self.settings.username, self.settings.password or "")
