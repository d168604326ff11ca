# -*- test-case-name: tests.replication.test_cluster_ops -*-
"""
Replication at run time (super users only): C{add_node} (alias C{set_node}), C{update_node},
C{remove_node}, C{cluster_status}, C{cluster_set_routes}, C{cluster_get_routes} and
C{cluster_delete_routes}.

They act on the node's L{harper.replication.cluster.ReplicationCluster}; route changes are
stored in the node's database and survive a restart. A node without C{replication.hostname}
answers C{cluster_status} with C{is_enabled: false} and refuses the others.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

from harper.auth.permissions import require_super_user
from harper.errors import ConfigError, InvalidInput, NotFound
from harper.operations.fields import Fields, expect
from harper.operations.registry import OperationCall, OperationRegistry
from harper.replication.settings import Route, parse_route

operations = OperationRegistry()

#: The port of a route given by C{hostname} alone (Harper's C{replication.securePort}).
DEFAULT_PORT = 9933

#: Fields of Harper's C{add_node} that harper does not implement.
_UNSUPPORTED = ("subscriptions", "authorization", "retain_authorization",
                "revoked_certificates", "shard", "start_time")

_NODE_FIELDS = frozenset({"operation", "hostname", "url", "port", "secure", "name",
                          "replicates", "verify_tls", *_UNSUPPORTED})


def _cluster(call: OperationCall, action: str) -> Any:
    require_super_user(call.user, action)
    cluster = call.scope.cluster
    if cluster is None:
        raise InvalidInput(
            f"{call.fields.text('operation')}: this node does not replicate"
            " (set replication.hostname)"
        )
    return cluster


def _check_fields(fields: Fields, allowed: frozenset) -> None:
    for name in fields.body:
        if name not in allowed:
            raise InvalidInput(f"{name}: not a field of {fields.text('operation')}")
    for name in _UNSUPPORTED:
        if name in fields.body and name in allowed:
            raise InvalidInput(f"{name}: not supported by harper (routes replicate whole databases)")
    if fields.boolean("verify_tls", True) is False:
        raise InvalidInput("verify_tls: false is not supported; trust the peer's certificate"
                           " authority with tls.certificateAuthority")


def _replicates(fields: Fields) -> tuple[bool, bool]:
    replicates = fields.mapping("replicates", {})
    for key, value in replicates.items():
        if key not in ("sends", "receives"):
            raise InvalidInput(f"replicates.{key}: not a field (sends, receives)")
        expect(value, bool, f"replicates.{key}")
    return replicates.get("sends", True), replicates.get("receives", True)


def _node_route(fields: Fields) -> Route:
    """
    The route an C{add_node} or C{update_node} request describes.
    """
    if fields.has("url"):
        url = fields.text("url")
    else:
        hostname = fields.text("hostname")
        if "://" in hostname:
            url = hostname
        else:
            port = fields.integer("port", DEFAULT_PORT, minimum=1)
            if port > 65535:
                raise InvalidInput(f"port: must be at most 65535, got {port}")
            url = f"{'wss' if fields.boolean('secure', True) else 'ws'}://{hostname}:{port}"
    sends, receives = _replicates(fields)
    try:
        parsed = parse_route(url)
    except ConfigError as error:  # it names the configuration key: name the field instead
        field = "url" if fields.has("url") else "hostname"
        raise InvalidInput(f"{field}: {url!r} is not a ws:// or wss:// URL with a host") from error
    return Route(parsed.url, fields.text("name", None), sends, receives)


def _label(fields: Fields) -> str:
    return fields.text("hostname", None) or fields.text("url", None) or ""


@operations.register("add_node", "set_node")
async def add_node(call: OperationCall) -> dict[str, Any]:
    """
    Replicate with another node (C{hostname}, or C{url}; C{replicates: {sends, receives}}).
    """
    cluster = _cluster(call, "add cluster nodes")
    _check_fields(call.fields, _NODE_FIELDS)
    cluster.add_node(_node_route(call.fields))
    await cluster.saving()
    return {"message": f"Successfully added '{_label(call.fields)}' to cluster"}


@operations.register("update_node")
async def update_node(call: OperationCall) -> dict[str, Any]:
    """
    Change the route to a node (added when there is none).
    """
    cluster = _cluster(call, "update cluster nodes")
    fields = call.fields
    _check_fields(fields, _NODE_FIELDS)
    route = _node_route(fields)
    try:
        existing = cluster.route_to(fields.text("url", None) or fields.text("hostname"))
    except NotFound:
        cluster.add_node(route)
    else:
        changes: dict[str, Any] = {}
        if fields.has("name"):
            changes["name"] = route.name
        if fields.has("replicates"):
            changes.update(sends=route.sends, receives=route.receives)
        cluster.update_node(existing.url, **changes)
    await cluster.saving()
    return {"message": f"Successfully updated '{_label(fields)}'"}


@operations.register("remove_node")
async def remove_node(call: OperationCall) -> dict[str, Any]:
    """
    Stop replicating with a node (C{hostname}: its name, URL or host).
    """
    cluster = _cluster(call, "remove cluster nodes")
    _check_fields(call.fields, frozenset({"operation", "hostname"}))
    node = call.fields.text("hostname")
    await cluster.remove_node(node)
    await cluster.saving()
    return {"message": f"Successfully removed '{node}' from cluster"}


def _database_sockets(connection: Mapping[str, Any], databases: list[str]) -> list[dict]:
    return [
        {
            "database": database,
            "connected": connection["connected"],
            "latency": connection.get("latency"),
            "lastCommitConfirmed": connection.get("lastCommitConfirmed"),
            "lastReceivedRemoteTime": connection.get("lastReceivedRemoteTime"),
            "lastReceivedLocalTime": connection.get("lastReceivedLocalTime"),
        }
        for database in databases
    ]


@operations.register("cluster_status")
def cluster_status(call: OperationCall) -> dict[str, Any]:
    """
    This node's name and, per peer, its connection, lag and confirmed positions.
    """
    require_super_user(call.user, "read the cluster status")
    _check_fields(call.fields, frozenset({"operation"}))
    cluster = call.scope.cluster
    if cluster is None:
        return {"type": "cluster-status", "connections": [], "node_name": None,
                "is_enabled": False}
    status = cluster.cluster_status()
    databases = sorted({table.database for table in cluster.replica.tables})
    return {
        "type": "cluster-status",
        "connections": [
            {**connection, "database_sockets": _database_sockets(connection, databases)}
            for connection in status["connections"]
        ],
        "node_name": status["nodeName"],
        "url": status["url"],
        "head": status["head"],
        "is_enabled": True,
    }


def _routes(fields: Fields) -> list[Union[str, dict]]:
    routes = fields.list("routes")
    for index, entry in enumerate(routes):
        if not isinstance(entry, (str, dict)):
            raise InvalidInput(f"routes[{index}]: expected a URL or an object, got {entry!r}")
    return routes


def _parsed(entry: Union[str, dict], index: int) -> Route:
    try:
        return parse_route(entry)
    except ConfigError as error:  # it names the configuration key: name the field instead
        raise InvalidInput(f"routes[{index}]: {entry!r} is not a ws:// or wss:// URL, or a"
                           " mapping with hostname and port") from error


@operations.register("cluster_set_routes")
async def cluster_set_routes(call: OperationCall) -> dict[str, Any]:
    """
    Add routes (URLs or C{{hostname, port}}); those already routed are skipped.
    """
    cluster = _cluster(call, "change cluster routes")
    _check_fields(call.fields, frozenset({"operation", "routes"}))
    entries = _routes(call.fields)
    parsed = [_parsed(entry, index) for index, entry in enumerate(entries)]
    known = {route.url for route in cluster.routes()}
    added, skipped = [], []
    for entry, route in zip(entries, parsed):
        if route.url in known:
            skipped.append(entry)
        else:
            cluster.add_node(route)
            known.add(route.url)
            added.append(entry)
    await cluster.saving()
    return {"message": "cluster routes successfully set", "set": added, "skipped": skipped}


@operations.register("cluster_get_routes")
def cluster_get_routes(call: OperationCall) -> list[Union[str, dict]]:
    """
    The routes this node replicates with: URLs, or mappings for named or one-way routes.
    """
    cluster = _cluster(call, "read cluster routes")
    _check_fields(call.fields, frozenset({"operation"}))
    described: list[Union[str, dict]] = []
    for route in cluster.routes():
        if route.name is None and route.sends and route.receives:
            described.append(route.url)
        else:
            described.append({"url": route.url, "name": route.name,
                              "replicates": {"sends": route.sends, "receives": route.receives}})
    return described


@operations.register("cluster_delete_routes")
async def cluster_delete_routes(call: OperationCall) -> dict[str, Any]:
    """
    Remove routes; those not routed are skipped.
    """
    cluster = _cluster(call, "change cluster routes")
    _check_fields(call.fields, frozenset({"operation", "routes"}))
    entries = _routes(call.fields)
    parsed = [_parsed(entry, index) for index, entry in enumerate(entries)]
    known = {route.url for route in cluster.routes()}
    deleted, skipped = [], []
    for entry, route in zip(entries, parsed):
        if route.url in known:
            await cluster.remove_node(route.url)
            known.discard(route.url)
            deleted.append(entry)
        else:
            skipped.append(entry)
    await cluster.saving()
    return {"message": "cluster routes successfully deleted", "deleted": deleted,
            "skipped": skipped}
