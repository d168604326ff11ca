# -*- test-case-name: tests.components.test_config -*-
"""
The sections of the root configuration, one frozen attrs class each.

Each field declares one key of C{harper.yaml} (its camelCase name, default and check, see
L{harper.components.config_schema.setting}); a few fields without a key hold values derived
from others, such as L{StorageConfig.file_path}. docs/configuration.md explains every key.
"""

from __future__ import annotations

import types
from typing import Any, Mapping, Optional, Union

import attr

from harper.components import config_checks as checks
from harper.components.config_schema import section, setting
from harper.components.config_storage import resolved_storage_uri, storage_uri
from harper.database.storage import DEFAULT_CACHE_SIZE, DEFAULT_CACHE_SIZE_BYTES

#: The words that C{logging.level} accepts, from the most verbose.
LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "notify")

#: MQTT's largest packet: a fixed header of 5 bytes and the largest remaining length.
MAX_PACKET_SIZE = 268_435_460

_optional_port = checks.optional(checks.port)
_optional_path = checks.optional(checks.path)


def _strings(default: list[str], item: checks.Check = checks.string) -> Any:
    return setting(default, checks.list_of(item), converter=tuple)


def _path() -> Any:
    return setting(None, _optional_path, resolve=checks.resolved_optional_path)


def _host() -> Any:
    return setting("127.0.0.1", checks.string)


def _secure_port() -> Any:
    return setting(None, _optional_port)


@attr.frozen
class MutualTlsConfig:
    """
    Mutual TLS on a listener's TLS port: clients may (or must) present a certificate signed by
    C{tls.certificateAuthority}.

    :ivar user: C{"Common Name"} to log the client in as the user its certificate's common
        name names, another user name to log every such client in as that user, or C{None} to
        only verify the certificate (the client still logs in with credentials).
    :ivar required: whether clients without a valid certificate are refused.
    """

    user: Optional[str]
    required: bool


def _mtls() -> Any:
    def converted(value: Any) -> Optional[MutualTlsConfig]:
        return MutualTlsConfig(**value) if value else None

    return setting(False, checks.mtls, converter=converted)


@attr.frozen(kw_only=True)
class HttpConfig:
    """
    The HTTP server (REST, WebSocket, static files).

    :ivar host: the interface to listen on; C{""} or C{"0.0.0.0"} for all of them.
    :ivar port: the plain TCP port; 0 switches the listener off.
    :ivar secure_port: the TLS port, or C{None} for none.
    :ivar mtls: mutual TLS on C{secure_port}, or C{None} for none.
    :ivar cors: whether cross-origin requests are answered with CORS headers.
    :ivar cors_access_list: the origins allowed; empty means any origin.
    :ivar compression_threshold: responses larger than this many bytes are compressed.
    :ivar max_body_size: the largest request body accepted, in bytes.
    :ivar timeout: milliseconds a request may take, from its head to its answer.
    :ivar keep_alive_timeout: milliseconds an idle kept-alive connection stays open.
    :ivar headers_timeout: milliseconds a client may take to send a request head.
    :ivar max_header_size: the largest request head accepted, in bytes.
    :ivar request_queue_limit: milliseconds the oldest unanswered write may have waited before
        new writes are refused with 503; 0 switches the limit off.
    :ivar max_queued_messages: events held for a WebSocket or event-stream client whose
        socket stopped draining, before L{slow_consumer} applies.
    :ivar slow_consumer: what happens past that bound: C{disconnect} the client (WebSocket
        close code 4008, the event stream ends) or C{drop} the events it cannot take.
    :ivar max_connections: connections open at once (plain and TLS port together, per
        process); more are closed as soon as they are accepted. 0 switches the bound off.
    :ivar max_web_socket_message_size: the largest WebSocket message (and frame) accepted, in
        bytes; a larger one closes the WebSocket with code 1009.
    """

    host: str = _host()
    port: int = setting(9926, checks.port)
    secure_port: Optional[int] = _secure_port()
    mtls: Optional[MutualTlsConfig] = _mtls()
    cors: bool = setting(True, checks.boolean)
    cors_access_list: tuple[str, ...] = _strings([])
    compression_threshold: int = setting(1200, checks.integer(0))
    max_body_size: int = setting(10485760, checks.integer(1))
    timeout: int = setting(120000, checks.integer(1))
    keep_alive_timeout: int = setting(30000, checks.integer(1))
    headers_timeout: int = setting(60000, checks.integer(1))
    max_header_size: int = setting(16384, checks.integer(256))
    request_queue_limit: int = setting(20000, checks.integer(0))
    max_queued_messages: int = setting(1000, checks.integer(1))
    slow_consumer: str = setting("disconnect", checks.one_of("disconnect", "drop"))
    max_connections: int = setting(10000, checks.integer(0))
    max_web_socket_message_size: int = setting(10485760, checks.integer(1))


@attr.frozen(kw_only=True)
class OperationsApiConfig:
    """
    The operations API server; its keys mean what they mean in L{HttpConfig}.
    """

    host: str = _host()
    port: int = setting(9925, checks.port)
    secure_port: Optional[int] = _secure_port()
    mtls: Optional[MutualTlsConfig] = _mtls()
    max_connections: int = setting(1000, checks.integer(0))


@attr.frozen(kw_only=True)
class MqttConfig:
    """
    The MQTT broker; C{host}, C{port}, C{secure_port} and C{mtls} mean what they mean in
    L{HttpConfig}.

    :ivar web_socket: whether MQTT over WebSocket is served on the HTTP port.
    :ivar require_authentication: whether clients must log in to connect.
    :ivar max_queued_messages: QoS 1 and 2 messages kept per session for a client that is away
        or reads too slowly; more are dropped (or, with C{slow_consumer: disconnect}, the
        slow client is disconnected).
    :ivar max_queued_bytes: bytes written to a client whose socket stopped draining before
        L{slow_consumer} applies to its QoS 0 messages.
    :ivar slow_consumer: C{drop} the QoS 0 messages a slow client cannot take, or
        C{disconnect} it (reason code 0x97).
    :ivar max_connections: see L{HttpConfig}.
    :ivar max_packet_size: the largest packet accepted, in bytes (announced in CONNACK); a
        larger one disconnects the client (reason code 0x95). 0: MQTT's own limit.
    :ivar max_inflight_messages: QoS 1 and 2 messages a client may have sent unacknowledged
        (the Receive Maximum announced in CONNACK); more disconnect it (reason code 0x93).
    :ivar max_subscriptions: topic filters one session may subscribe to; filters past it are
        refused with reason code 0x97 (0x80 in MQTT 3.1.1). 0 switches the bound off.
    :ivar connect_timeout: milliseconds a new connection may take to send its CONNECT before
        it is closed; 0 switches the bound off.
    """

    host: str = _host()
    port: int = setting(1883, checks.port)
    secure_port: Optional[int] = _secure_port()
    mtls: Optional[MutualTlsConfig] = _mtls()
    web_socket: bool = setting(True, checks.boolean)
    require_authentication: bool = setting(True, checks.boolean)
    max_queued_messages: int = setting(1000, checks.integer(1))
    max_queued_bytes: int = setting(1048576, checks.integer(1))
    slow_consumer: str = setting("drop", checks.one_of("drop", "disconnect"))
    max_connections: int = setting(10000, checks.integer(0))
    max_packet_size: int = setting(10485760, checks.integer(0, MAX_PACKET_SIZE))
    max_inflight_messages: int = setting(1024, checks.integer(1, 65535))
    max_subscriptions: int = setting(1000, checks.integer(0))
    connect_timeout: int = setting(10000, checks.integer(0))


@attr.frozen(kw_only=True)
class TlsConfig:
    """
    TLS files (absolute paths, or C{None}).

    :ivar certificate: the PEM certificate chain of this server.
    :ivar private_key: the PEM private key of C{certificate}.
    :ivar certificate_authority: the PEM certificates trusted to sign client certificates.
    """

    certificate: Optional[str] = _path()
    private_key: Optional[str] = _path()
    certificate_authority: Optional[str] = _path()


@attr.frozen(kw_only=True)
class StorageConfig:
    """
    The database storage.

    :ivar uri: where the data lives, as a URI whose scheme is registered in
        L{harper.components.config_storage}; C{file:} URIs are absolute here.
    :ivar group_commit: whether writes arriving together are committed together.
    :ivar transaction_retries: how often a conflicting transaction is retried.
    :ivar thread_pool_size: threads that run transactions.
    :ivar cache_size: objects each database connection keeps in its cache.
    :ivar cache_size_bytes: estimated bytes of object state each database connection keeps in
        its cache (0: bounded by C{cache_size} only).
    :ivar file_path: the absolute database file of a C{file:} URI, C{None} for other schemes.
    """

    uri: str = setting("file:", storage_uri, resolve=resolved_storage_uri)
    group_commit: bool = setting(True, checks.boolean)
    transaction_retries: int = setting(10, checks.integer(0))
    thread_pool_size: int = setting(10, checks.integer(1))
    cache_size: int = setting(DEFAULT_CACHE_SIZE, checks.integer(1))
    cache_size_bytes: int = setting(DEFAULT_CACHE_SIZE_BYTES, checks.integer(0))
    file_path: Optional[str] = None


@attr.frozen(kw_only=True)
class ThreadsConfig:
    """
    The workers that serve requests.

    :ivar count: how many; the key's C{null} becomes the number of cores here.
    """

    count: int = setting(None, checks.optional(checks.integer(1)))


@attr.frozen(kw_only=True)
class AuthenticationConfig:
    """
    Logins and tokens.

    :ivar authorize_local: whether requests from this machine are trusted as the superuser.
    :ivar enable_sessions: whether logins set a session cookie.
    :ivar operation_token_timeout: seconds an operation token stays valid.
    :ivar refresh_token_timeout: seconds a refresh token stays valid.
    """

    authorize_local: bool = setting(False, checks.boolean)
    enable_sessions: bool = setting(True, checks.boolean)
    operation_token_timeout: float = setting("1d", checks.duration)
    refresh_token_timeout: float = setting("30d", checks.duration)


@attr.frozen(kw_only=True)
class LoggingConfig:
    """
    The log.

    :ivar level: one of L{LOG_LEVELS}.
    :ivar file: the absolute log file; the key's C{null} becomes C{<rootPath>/log/harper.log}.
    :ivar std_streams: whether the log also goes to standard output.
    :ivar audit_log: whether every write is recorded in the audit log.
    :ivar audit_retention: seconds audit entries are kept.
    """

    level: str = setting("warn", checks.one_of(*LOG_LEVELS))
    file: str = _path()
    std_streams: bool = setting(False, checks.boolean)
    audit_log: bool = setting(True, checks.boolean)
    audit_retention: float = setting("3d", checks.duration)


def _routes(entries: list[Union[str, dict[str, Any]]]) -> tuple[Union[str, Mapping[str, Any]], ...]:
    return tuple(
        types.MappingProxyType(entry) if isinstance(entry, dict) else entry for entry in entries
    )


def _databases(value: Union[str, list[str]]) -> Union[str, tuple[str, ...]]:
    return value if isinstance(value, str) else tuple(value)


@attr.frozen(kw_only=True)
class ReplicationConfig:
    """
    Replication with other nodes.

    :ivar hostname: this node's name in the cluster (its host name), or C{None}.
    :ivar url: the URL other nodes reach this one at, or C{None} for
        C{ws://<hostname>:<port>} (C{wss://} with TLS).
    :ivar port: the replication port, or C{None}.
    :ivar databases: C{"*"} for every database, or the names of those replicated.
    :ivar routes: the peers, each a URL or a read-only mapping with C{hostname} and C{port}
        (both C{None} when absent) and any other keys as written.
    :ivar username: the cluster user peers authenticate as, or C{None} (then only peers on
        this machine are accepted).
    :ivar password: the cluster user's secret.
    """

    hostname: Optional[str] = setting(None, checks.optional(checks.node_name))
    url: Optional[str] = setting(None, checks.optional(checks.websocket_url))
    port: Optional[int] = setting(None, _optional_port)
    databases: Union[str, tuple[str, ...]] = setting("*", checks.databases, converter=_databases)
    routes: tuple[Union[str, Mapping[str, Any]], ...] = setting(
        [], checks.list_of(checks.route), converter=_routes
    )
    username: Optional[str] = setting(None, checks.optional(checks.text))
    password: Optional[str] = setting(None, checks.optional(checks.text))


@attr.frozen(kw_only=True)
class ManholeConfig:
    """
    The administration console (a Python shell inside the daemon).

    :ivar host: the interface it listens on.
    :ivar telnet_port: the telnet port; 0 switches it off.
    :ivar ssh_port: the SSH port; 0 switches it off.
    :ivar username: the login name.
    :ivar password: the password; required when a port is set.
    """

    host: str = _host()
    telnet_port: int = setting(0, checks.port)
    ssh_port: int = setting(0, checks.port)
    username: str = setting("admin", checks.text)
    password: Optional[str] = setting(None, checks.optional(checks.text))


@attr.frozen
class ApplicationConfig:
    """
    One application to load.

    :ivar path: its absolute folder.
    :ivar url_path: the URL path it is served under, or C{None} for its default.
    """

    path: str
    url_path: Optional[str] = None


def _applications(entries: list[dict[str, Any]]) -> tuple[ApplicationConfig, ...]:
    return tuple(ApplicationConfig(entry["path"], entry["urlPath"]) for entry in entries)


@attr.frozen(kw_only=True)
class HarperConfig:
    """
    The whole root configuration, checked and complete.

    :ivar source: the absolute path of the configuration file, or C{"<defaults>"} without one
        (or the source name given to C{config_from_string}).
    :ivar root_path: the absolute folder holding the data, logs and keys.
    :ivar applications: the applications to load, in order.
    :ivar plugin_packages: dotted names of the packages searched for third-party plugins.
    :ivar admin_bootstrap: C{(username, password)} of the administrator to create on the first
        start, from C{HARPER_ADMIN_USERNAME} and C{HARPER_ADMIN_PASSWORD}, or C{None}.
    :ivar raw: every key's checked value, with defaults filled in and paths made absolute,
        nested like the YAML file (camelCase keys).
    """

    source: str
    root_path: str = setting("./var", checks.path, resolve=checks.resolved_path)
    http: HttpConfig = section(HttpConfig)
    operations_api: OperationsApiConfig = section(OperationsApiConfig)
    mqtt: MqttConfig = section(MqttConfig)
    tls: TlsConfig = section(TlsConfig)
    storage: StorageConfig = section(StorageConfig)
    threads: ThreadsConfig = section(ThreadsConfig)
    authentication: AuthenticationConfig = section(AuthenticationConfig)
    logging: LoggingConfig = section(LoggingConfig)
    replication: ReplicationConfig = section(ReplicationConfig)
    manhole: ManholeConfig = section(ManholeConfig)
    applications: tuple[ApplicationConfig, ...] = setting(
        [],
        checks.list_of(checks.application),
        resolve=checks.resolved_applications,
        converter=_applications,
    )
    plugin_packages: tuple[str, ...] = _strings(["twisted.plugins"], checks.dotted_name)
    admin_bootstrap: Optional[tuple[str, str]]
    raw: dict[str, Any] = attr.field(eq=False, repr=False)
