# -*- test-case-name: tests.replication.test_settings -*-
"""
The replication settings of a node, read from the C{replication} section of the root
configuration, and the peers it connects to (routes).

A route is a URL (C{ws://host:port}, C{wss://host:port} for TLS), a host name (C{server-two}
or C{server-two:9933}: TLS, port L{DEFAULT_PORT} unless given) or a mapping with C{hostname}
(or C{host}) and C{port} (and optionally C{url}, C{name}, C{secure} and C{replicates:
{sends, receives}}).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union
from urllib.parse import urlsplit

import attr

from harper.auth.certificates import BadCertificate, load_certificates, load_private_certificate
from harper.errors import ConfigError

#: The port of a route that names a host only (Harper's C{replication.securePort}).
DEFAULT_PORT = 9933

#: Seconds a log entry is kept when the configuration does not say.
DEFAULT_RETENTION = 3 * 24 * 3600.0


@attr.frozen
class Route:
    """
    A peer this node pulls changes from (and, unless it says otherwise, serves).

    :ivar url: the peer's replication URL (C{ws://} or C{wss://}).
    :ivar name: the peer's node name, when known before connecting.
    :ivar sends: whether this node serves the peer its changes.
    :ivar receives: whether this node pulls the peer's changes.
    """

    url: str
    name: Optional[str] = None
    sends: bool = True
    receives: bool = True

    @property
    def secure(self) -> bool:
        """
        Whether the link uses TLS.
        """
        return self.url.startswith("wss:")

    @property
    def host(self) -> str:
        """
        The peer's host.
        """
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """
        The peer's port.
        """
        parts = urlsplit(self.url)
        return parts.port or (443 if self.secure else 80)


def parse_route(entry: Union[str, Mapping[str, Any]]) -> Route:
    """
    The L{Route} of a C{replication.routes} entry.

    :raises ConfigError: when the entry does not name a WebSocket URL.
    """
    if isinstance(entry, str):
        return Route(_checked_url(entry if "://" in entry else _host_url(entry)))
    url = entry.get("url")
    if url is None:
        hostname, port = entry.get("hostname", entry.get("host")), entry.get("port")
        if not hostname or not port:
            raise ConfigError(
                [f"replication.routes: {dict(entry)!r} needs a url, or a hostname and a port"]
            )
        scheme = "wss" if entry.get("secure") else "ws"
        url = f"{scheme}://{hostname}:{port}"
    replicates = entry.get("replicates") or {}
    return Route(
        _checked_url(url),
        entry.get("name"),
        bool(replicates.get("sends", True)),
        bool(replicates.get("receives", True)),
    )


def _host_url(host: str) -> str:
    return f"wss://{host}" if ":" in host else f"wss://{host}:{DEFAULT_PORT}"


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError([f"replication.routes: {url!r} is not a ws:// or wss:// URL with a host"])
    try:
        parts.port
    except ValueError:
        raise ConfigError([f"replication.routes: {url!r} has an invalid port"]) from None
    return url


@attr.frozen(kw_only=True)
class ClusterSettings:
    """
    What a node needs to replicate.

    :ivar node: this node's name.
    :ivar url: where peers reach this node, or C{None} (then peers only reach it through
        their own routes).
    :ivar host: the interface the replication listener binds.
    :ivar port: the replication port; C{None} for no listener, 0 for any free port.
    :ivar databases: C{"*"} or the replicated databases' names.
    :ivar routes: the peers to pull from.
    :ivar username: the cluster user peers authenticate as (with C{password}); without it,
        only peers on this machine are accepted.
    :ivar password: the cluster user's secret.
    :ivar retention: seconds log entries are kept.
    :ivar confirmation_timeout: seconds a write waits for the peer confirmations it asks for
        (C{X-Replicate-To}).
    :ivar certificate: PEM certificate of the TLS listener (with C{private_key}), or C{None}.
    :ivar private_key: PEM private key of C{certificate}.
    :ivar certificate_authority: PEM certificates trusted for C{wss://} peers, or C{None} for
        the platform's.
    """

    node: str
    url: Optional[str] = None
    host: str = ""
    port: Optional[int] = None
    databases: Union[str, tuple[str, ...]] = "*"
    routes: tuple[Route, ...] = ()
    username: Optional[str] = None
    password: Optional[str] = None
    retention: float = DEFAULT_RETENTION
    confirmation_timeout: float = 10.0
    certificate: Optional[str] = None
    private_key: Optional[str] = None
    certificate_authority: Optional[str] = None

    @property
    def enabled(self) -> bool:
        """
        Whether the node takes part in replication at all.
        """
        return self.port is not None or bool(self.routes)


def settings_from_config(config: Any) -> Optional[ClusterSettings]:
    """
    The replication settings of a root configuration, or C{None} when C{replication.hostname}
    is not set (replication off).

    :raises ConfigError: for routes that are not WebSocket URLs, and C{tls} files that
        cannot be used.
    """
    replication = config.replication
    if not replication.hostname:
        return None
    tls = config.tls
    try:
        if tls.certificate and tls.private_key:
            load_private_certificate(tls.certificate, tls.private_key)
        if tls.certificate_authority:
            load_certificates(tls.certificate_authority)
    except BadCertificate as error:
        raise ConfigError([f"tls: {error}"]) from None
    return ClusterSettings(
        node=replication.hostname,
        url=replication.url,
        port=replication.port,
        databases=replication.databases,
        routes=tuple(parse_route(route) for route in replication.routes),
        username=replication.username,
        password=replication.password,
        retention=config.logging.audit_retention,
        certificate=tls.certificate,
        private_key=tls.private_key,
        certificate_authority=tls.certificate_authority,
    )
