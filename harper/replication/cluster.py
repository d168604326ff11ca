# -*- test-case-name: tests.replication.test_cluster -*-
"""
The replication service of a node: the listener peers subscribe through, one
L{harper.replication.peer.PeerLink} per route, and the upkeep of the log (confirmations
recorded, old entries pruned, tombstones every peer confirmed purged).

Routes can be added, changed and removed while the node runs (L{ReplicationCluster.add_node},
L{ReplicationCluster.update_node}, L{ReplicationCluster.remove_node}); those changes are stored
in the node's database and applied again on the next start (L{harper.replication.nodes}).
L{ReplicationCluster.cluster_status} reports every peer. A peer that subscribes without a route
here is replicated back from the URL it announces. A write can wait for peers to confirm it
(L{ReplicationCluster.confirmation}, C{X-Replicate-To}).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Union

from twisted.application import service
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harper.database.transaction import Transaction
from harper.errors import ConfigError, InvalidInput, NotFound
from harper.replication.confirm import ConfirmationWait, ReplicateTo, parse_replicate_to
from harper.replication.log import replication_state
from harper.replication.nodes import routes_at_start, save_removal, save_route, saved_changes
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
        self._confirmed_at: dict[str, tuple[int, float]] = {}
        self._waits: list[ConfirmationWait] = []
        self._saving: Deferred = succeed(None)
        self._start_routes: list[Route] = []
        self._wake_call: Any = None
        self._stop_watching: Optional[Callable[[], None]] = None
        self._upkeep = LoopingCall(self.upkeep)
        self._upkeep.clock = reactor
        self._upkeep_interval = upkeep_interval

    # -- life cycle ------------------------------------------------------------------------

    def startService(self) -> None:
        self.replica.start_recording()
        self._confirmed, changes = self.replica.read(
            lambda txn: (dict(replication_state(txn).confirmed.items()), saved_changes(txn))
        )
        self._start_routes, removed = routes_at_start(self.settings.routes, changes)
        self._removed.update(removed)
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
        for wait in tuple(self._waits):
            wait.done.cancel()
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
            self._reactor, settings.host, settings.port, settings.certificate, settings.private_key,
            settings.certificate_authority,
        )
        return endpoint.listen(self._factory).addCallback(self._listening)

    def _listening(self, port: Any) -> Any:
        self.port = port
        self._log.info("replication of {node} listening on {address}", node=self.node,
                       address=port.getHost())
        return port

    def _link_routes(self, port: Any) -> Any:
        for route in self._start_routes:
            self._link(route)
        return port

    @property
    def url(self) -> Optional[str]:
        """
        Where peers reach this node: the configured URL, else the listener's port at the
        interface it binds (when it binds one) or at this node's name (C{replication.hostname},
        a host name), or C{None} without a listener.
        """
        if self.settings.url is not None:
            return self.settings.url
        if self.port is None:
            return None
        host = self.settings.host if self.settings.host not in ("", "0.0.0.0") else self.node
        scheme = "wss" if self.settings.certificate and self.settings.private_key else "ws"
        return f"{scheme}://{host}:{self.port.getHost().port}"

    # -- routes ----------------------------------------------------------------------------

    def add_node(
        self, route: Union[str, Mapping[str, Any], Route], *, name: Optional[str] = None,
        sends: bool = True, receives: bool = True,
    ) -> Route:
        """
        Replicate with the node at C{route} (a URL, a route mapping as in the configuration,
        or a L{Route}); return its route. A URL already routed is replaced. The route is
        stored (L{saving} fires once it is) and linked again after a restart.

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
        self._link(route)
        self._save(lambda txn: save_route(txn, route))
        return route

    def _link(self, route: Route) -> None:
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
        link = self._links.get(url)
        name = route.name or (link.peer if link is not None else None)
        fields = {"name": name, "sends": route.sends, "receives": route.receives, **changes}
        return self.add_node(
            Route(url, fields["name"], bool(fields["sends"]), bool(fields["receives"]))
        )

    def remove_node(self, node: str) -> Deferred:
        """
        Stop replicating with C{node} (see L{route_to}): close the link, end its
        subscription, refuse it from now on (until added again, also after a restart) and
        forget what it confirmed; the Deferred fires once the link is closed.

        :raises NotFound: when no route matches.
        """
        route = self.route_to(node)
        url = route.url
        link = self._links.get(url)
        name = (link.peer if link is not None else None) or route.name
        closed = self._drop_link(url)
        del self._routes[url]
        self._removed.update({url, name} - {None})
        self._save(lambda txn: save_removal(txn, url, name))
        if name is not None:
            self._confirmed.pop(name, None)
            for publication in tuple(self._publications):
                if publication.subscriber == name:
                    publication.end(f"{self.node} removed {name} from its cluster")
                    self.unsubscribe(publication)
            self.replica.write(lambda txn: self.replica.log.forget_peer(txn, name)).addErrback(
                self._log.failure, "forgetting {peer} failed", peer=name)
        return closed

    def saving(self) -> Deferred:
        """
        A Deferred that fires once every route change made so far is stored.
        """
        stored: Deferred = Deferred()
        self._saving.addBoth(lambda result: (stored.callback(None), result)[1])
        return stored

    def _save(self, work: Callable[[Transaction], None]) -> None:
        def store(_: Any) -> Deferred:
            return self.replica.write(work).addErrback(
                self._log.failure, "storing a replication route change failed")

        self._saving = self._saving.addCallback(store)

    def routes(self) -> list[Route]:
        """
        The routes this node replicates with, in the order they were added.
        """
        return list(self._routes.values())

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

    def route_to(self, node: str) -> Route:
        """
        The route to C{node}: a route URL, a peer's name or the host of a route.

        :raises NotFound: when no route matches.
        """
        if node in self._routes:
            return self._routes[node]
        for url, route in self._routes.items():
            link = self._links.get(url)
            if node in (route.name, route.host) or (link is not None and link.peer == node):
                return route
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
            self._link(Route(request.url, request.node))
        return publication

    def unsubscribe(self, publication: Publication) -> None:
        """
        C{publication}'s subscriber went away.
        """
        publication.stop()
        self._publications.discard(publication)
        self._record_confirmed(publication)

    def progressed(self, publication: Publication) -> None:
        """
        C{publication}'s subscriber sent a message (perhaps a confirmation): writes waiting
        for confirmations may be done.
        """
        name = publication.subscriber
        if publication.confirmed > self._confirmed_at.get(name, (0, 0.0))[0]:
            self._confirmed_at[name] = (publication.confirmed, self._reactor.seconds())
        if self._waits:
            confirmations = self._confirmations()
            for wait in tuple(self._waits):
                wait.update(confirmations)

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

    # -- waiting for confirmations ---------------------------------------------------------

    def confirmation(self, header: str) -> Callable[[], Deferred]:
        """
        Check an C{X-Replicate-To} header value before a write; return the function to call
        after the write's commit, whose Deferred fires with the names of the peers that
        confirmed it or fails with L{harper.errors.ReplicationTimeout}.

        :raises InvalidInput: for a malformed value or a node that is not a peer.
        """
        wanted = parse_replicate_to(header)
        peers = self._peer_names()
        for name in wanted.nodes or ():
            if name not in peers:
                known = ", ".join(sorted(peers)) or "none"
                raise InvalidInput(
                    f"X-Replicate-To: {name!r} is not a peer of {self.node} (peers: {known})"
                )
        return lambda: self.wait_for(wanted)

    def wait_for(self, wanted: ReplicateTo, timeout: Optional[float] = None,
                 position: Optional[int] = None) -> Deferred:
        """
        Wait until the peers C{wanted} confirmed everything this node logged so far, or
        through C{position} of its log when given (at most C{timeout} seconds, by default the
        settings' C{confirmation_timeout}).
        """
        if position is None:
            position = self.replica.read(self.replica.log.head)
        wait = ConfirmationWait(
            wanted, position, self._peer_names(),
            self.settings.confirmation_timeout if timeout is None else timeout,
            self._reactor, self.node,
        )
        wait.update(self._confirmations())
        if not wait.finished:
            self._waits.append(wait)
            wait.done.addBoth(lambda result: (self._waits.remove(wait), result)[1])
        return wait.done

    def _confirmations(self) -> dict[str, int]:
        confirmations = dict(self._confirmed)
        for publication in self._publications:
            name = publication.subscriber
            confirmations[name] = max(confirmations.get(name, 0), publication.confirmed)
        return confirmations

    def _peer_names(self) -> set[str]:
        names = {p.subscriber for p in self._publications}
        for url, route in self._routes.items():
            link = self._links.get(url)
            names.add((link.peer if link is not None else None) or route.name)
        return names - {None}

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
        entries, C{latency} in ms, C{baseCopies}, C{replicates}) and what the peer confirmed
        of this node's log (C{subscribed}, C{confirmed}, C{behind}, C{lastCommitConfirmed} in
        epoch ms).
        """
        head = self.replica.read(self.replica.log.head)
        for publication in self._publications:
            self._record_confirmed(publication)
        subscribed = {p.subscriber for p in self._publications}
        connections = [
            {**link.status(), **self._served(link.peer, head, subscribed),
             "replicates": {"sends": link.route.sends, "receives": link.route.receives}}
            for link in self._links.values()
        ]
        linked = {link.peer for link in self._links.values()}
        for name in sorted(subscribed - linked):
            connections.append({"url": None, "name": name, "connected": False, "state": None,
                                **self._served(name, head, subscribed),
                                "replicates": {"sends": True, "receives": False}})
        return {
            "nodeName": self.node,
            "url": self.url,
            "isEnabled": True,
            "head": head,
            "connections": connections,
        }

    def _served(self, name: Optional[str], head: int, subscribed: set) -> dict[str, Any]:
        confirmed = self._confirmed.get(name, 0) if name is not None else 0
        confirmed_at = self._confirmed_at.get(name)
        return {
            "subscribed": name in subscribed,
            "confirmed": confirmed,
            "behind": max(0, head - confirmed),
            "lastCommitConfirmed": None if confirmed_at is None else confirmed_at[1] * 1000.0,
        }

    def _client_tls(self, route: Route) -> Any:
        if not route.secure:
            return None
        settings = self.settings
        return client_tls(route, settings.certificate_authority, settings.certificate, settings.private_key)

    def _authorization(self) -> Optional[str]:
        if self.settings.username is None:
            return None
        return basic_authorization(self.settings.username, self.settings.password or "")
