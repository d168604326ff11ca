# -*- test-case-name: tests.replication.test_cluster_ops -*-
"""
The routes changed at run time (C{add_node}, C{update_node}, C{remove_node}), kept in the
node's own database so that they survive a restart.

What is stored is a change per route URL on top of the configured routes: a route added or
changed, or a route removed (with the peer's name, which stays refused until it is added
again). L{routes_at_start} merges them with C{replication.routes}.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from BTrees.OOBTree import OOBTree

from harper.database.transaction import Transaction
from harper.replication.settings import Route

_ROOT_KEY = "harper.replication.nodes"


def _saved(txn: Transaction) -> Optional[OOBTree]:
    root = txn.connection.root()
    saved = root.get(_ROOT_KEY)
    if saved is None and not txn.read_only:
        saved = root[_ROOT_KEY] = OOBTree()
    return saved


def save_route(txn: Transaction, route: Route) -> None:
    """
    Remember that C{route} was added or changed.
    """
    _saved(txn)[route.url] = {
        "name": route.name, "sends": route.sends, "receives": route.receives,
    }


def save_removal(txn: Transaction, url: str, name: Optional[str]) -> None:
    """
    Remember that the route to C{url} (the peer C{name}, when known) was removed.
    """
    _saved(txn)[url] = {"removed": True, "name": name}


def saved_changes(txn: Transaction) -> dict[str, Mapping]:
    """
    The stored changes by route URL.
    """
    saved = _saved(txn)
    return {} if saved is None else dict(saved.items())


def routes_at_start(
    configured: Iterable[Route], changes: Mapping[str, Mapping]
) -> tuple[list[Route], set[str]]:
    """
    The routes to link when the node starts (the configured ones with the stored C{changes}
    applied, configured ones first), and the URLs and names removed at run time.
    """
    routes = {route.url: route for route in configured}
    removed: set[str] = set()
    for url, change in changes.items():
        if change.get("removed"):
            routes.pop(url, None)
            removed.update({url, change.get("name")} - {None})
        else:
            routes[url] = Route(url, change["name"], change["sends"], change["receives"])
    return list(routes.values()), removed
