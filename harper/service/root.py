# -*- test-case-name: tests.service.test_daemon -*-
"""
The root service of the daemon: opens the runtime, then the listeners, and closes them in
reverse order.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
from typing import Any, Callable, Mapping, Optional, Sequence

import attr
from twisted.application import service
from twisted.internet import endpoints
from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger, LogLevel

from harper.admin.manhole import ManholeService
from harper.admin.namespace import build_namespace
from harper.components.lifecycle import Applications
from harper.components.loader import discover_plugins
from harper.components.reload import ApplicationWatcher
from harper.components.runtime import Runtime
from harper.errors import StartupError
from harper.http.rest import RestAPI
from harper.http.lane import LaneLimits, RestLane
from harper.http.site import guarded, make_site
from harper.mqtt.service import BrokerService, build_broker
from harper.mqtt.websocket import MQTTWebSocketChannel
from harper.operations.api import OperationsAPI, default_operations
from harper.operations.scope import OperationScope
from harper.replication.cluster import ReplicationCluster
from harper.replication.recorder import ServedTables
from harper.replication.replica import Replica
from harper.replication.settings import settings_from_config
from harper.service.limits import ConnectionLimit
from harper.service.logs import LEVELS, start_logging
from harper.service.mounts import RemountingRoot
from harper.service.refusal import refuse_to_start
from harper.service.runfile import remove_run_file, write_run_file
from harper.service.sweeper import ExpirationSweeper, scan_interval
from harper.service.tls import certificate_user, certified_site, listener_options, secured
from harper.websocket.resource import RealtimeResource
from harper.workers.cluster import ForwardedCluster, serve_operations, serve_waits
from harper.workers.replication import WorkerReplica


def listen_description(host: str, port: int) -> str:
    """
    The endpoint description of a TCP listener (C{host} empty for every interface), with the
    system's largest accept queue: with Twisted's default of 50, a burst of new connections
    overflows it and the clients' SYNs wait a one-second retransmission.
    """
    interface = f":interface={host.replace(':', chr(92) + ':')}" if host else ""
    return f"tcp:{port}:backlog={socket.SOMAXCONN}{interface}"


class HarperService(service.MultiService):
    """
    Everything one harper process runs.

    :param config: the validated configuration.
    :param runtime: the runtime to start (database, tables, registry).
    :param reactor: the reactor to listen with.
    :param dev: dev mode: reload an application when one of its files changes.
    :param plugins: the plugins applications may use, by name (by default those of
        C{config.pluginPackages}).
    :ivar applications: once started, the serving applications
        (L{harper.components.lifecycle.Applications}).
    :ivar exit_status: 1 once the service has refused to start (the runtime failed or a
        port could not be listened on), else 0; the process should exit with it.
    :raises StartupError: when a C{tls} file of a configured TLS port cannot be used.
    """

    _log = Logger()

    def __init__(
        self, config: Any, runtime: Runtime, reactor: Any, dev: bool = False, plugins: Optional[Mapping[str, Any]] = None
    ) -> None:
        super().__init__()
        self.config = config
        self.dev = dev
        self.runtime = runtime
        self._plugins = plugins
        self.applications: Optional[Applications] = None
        self._reactor = reactor
        self._ports: list[Any] = []
        self.http_port: Optional[Any] = None
        self.operations_port: Optional[Any] = None
        self.exit_status = 0
        self._tls = listener_options(config)
        #: The L{ConnectionLimit} of each listening section, by its key (C{None}: unbounded).
        self._connection_limits: dict[str, Optional[ConnectionLimit]] = {}
        self._stop_logging: Optional[Callable[[], None]] = None
        #: In a worker process: the L{harper.workers.worker.WorkerLink} (inherited listening
        #: sockets, change-event bus); C{None} in a single process.
        self.worker: Optional[Any] = None

    def startService(self) -> None:
        self._stop_logging = start_logging(self.config.logging)
        try:
            self.runtime.start()
        except StartupError as error:
            self.runtime.stop()
            self._refuse_to_start(error.problems)
            return
        except Exception as error:
            self._log.failure("the runtime failed to start")
            self.runtime.stop()
            self._refuse_to_start([f"{type(error).__name__}: {error}"])
            return
        # What start-up loaded lives as long as the process: keep the collector from
        # scanning it again on every full collection (a 15-27 ms pause under load).
        gc.collect()
        gc.freeze()
        plugins = self._plugins if self._plugins is not None else discover_plugins(self.config.plugin_packages)
        self.applications = Applications(self.runtime, plugins)
        self._add_children()
        self._start_replication()
        super().startService()
        self._listen_mqtt()
        self._listen_http()
        self._listen_operations()
        operations = self.config.operations_api
        if self.worker is None:
            write_run_file(self.config.root_path, operations.host, operations.port)

    def _add_children(self) -> None:
        intervals = [i for i in map(scan_interval, self.runtime.resources.values()) if i]
        if intervals:
            sweeper = ExpirationSweeper(
                self.runtime.runner.run, lambda: list(self.runtime.resources.values()), min(intervals)
            )
            sweeper.clock = self._reactor
            sweeper.setServiceParent(self)
        if self.dev:
            ApplicationWatcher(self.applications, self._reactor).setServiceParent(self)
        manhole = self.config.manhole
        # With worker processes, the console runs in the primary worker alone (its ports are
        # its own, not shared).
        primary = self.worker is None or self.worker.primary
        if (manhole.telnet_port or manhole.ssh_port) and primary:
            ManholeService(
                self._reactor,
                host=manhole.host,
                telnet_port=manhole.telnet_port or None,
                ssh_port=manhole.ssh_port or None,
                username=manhole.username,
                password=manhole.password,
                namespace=self._console_namespace,
                ssh_key_dir=os.path.join(self.config.root_path, "keys"),
            ).setServiceParent(self)

    def _start_replication(self) -> None:
        """
        Join the cluster when C{replication.hostname} is set: log this node's changes, listen
        on C{replication.port} and replicate with the routes (docs/clustering.md). The
        cluster service becomes C{self.replication} (C{None} when replication is off, and in
        a worker process other than the replicating one, which only logs its changes:
        L{harper.workers.replication}).
        """
        self.replication: Optional[ReplicationCluster] = None
        #: In a worker that does not replicate: the cluster operations and waits it forwards.
        self._forwarded: Optional[ForwardedCluster] = None
        try:
            settings = settings_from_config(self.config)
        except StartupError as error:
            self._refuse_to_start(error.problems)
            return
        if settings is None:
            return
        tables = ServedTables(self.runtime.resources)
        replica = Replica(settings.node, self.runtime.runner, tables, settings.databases, self.runtime.writer)
        if self.worker is None or self.worker.primary:
            self.replication = ReplicationCluster(settings, replica, self._reactor)
            self.replication.setServiceParent(self)
            self.replication.ready.addErrback(lambda failure: self._refuse_to_start([
                f"replication.port: cannot listen on port {settings.port}: {failure.getErrorMessage()}"
            ]))
        if self.worker is not None:
            WorkerReplica(replica, self.replication, self._reactor).setServiceParent(self)
            if self.replication is None:
                self._forwarded = ForwardedCluster(
                    self.worker.calls, replica, settings.confirmation_timeout
                )
            else:
                serve_waits(self.worker.calls, self.replication)

    def _console_namespace(self) -> dict:
        return build_namespace(
            config=self.config,
            databases=self.runtime.databases,
            tables=self.runtime.tables,
            service=self,
        )

    def _listen(self, key: str, port: int, description: str, factory: Any) -> Any:
        """
        Listen with C{factory} on the endpoint C{description}, behind the connection limit of
        the section of C{key}; a failure to listen stops the daemon with a message naming the
        config C{key}. The Deferred fires with the port.
        """
        def listening(listening_port: Any) -> Any:
            self._ports.append(listening_port)
            self._log.info("{key} listening on {address}", key=key, address=listening_port.getHost())
            return listening_port

        def refused(failure: Any) -> None:
            self._refuse_to_start([f"{key}: cannot listen on port {port}: {failure.getErrorMessage()}"])

        factory = self._limited(key, factory)
        if self.worker is not None and key in self.worker.sockets:
            listened = maybeDeferred(self.worker.adopt, key, factory)
        else:
            listened = endpoints.serverFromString(self._reactor, description).listen(factory)
        return listened.addCallbacks(listening, refused)

    def _limited(self, key: str, factory: Any) -> Any:
        """
        C{factory} behind the C{maxConnections} of the section of C{key} (shared by the
        section's plain and TLS ports), or C{factory} itself when that bound is 0.
        """
        name = key.split(".")[0]
        if name not in self._connection_limits:
            settings = {"http": self.config.http, "operationsApi": self.config.operations_api,
                        "mqtt": self.config.mqtt}[name]
            self._connection_limits[name] = ConnectionLimit(
                settings.max_connections, f"{name}.maxConnections", self._reactor
            ) if settings.max_connections else None
        limit = self._connection_limits[name]
        return factory if limit is None else limit.wrap(factory)

    def _listen_http(self) -> None:
        """
        Serve REST, static files, WebSocket/SSE subscriptions and MQTT over WebSocket on
        C{http.port} and, with TLS configured, C{http.securePort}.
        """
        http = self.config.http
        if not (http.port or "http.securePort" in self._tls):
            return
        authenticate = self.runtime.access.authenticator.authenticate
        last_modified = any(
            (application.rest_options or {}).get("lastModified", False)
            for application in self.runtime.applications
        )
        replicated = self.replication if self.replication is not None else self._forwarded
        confirmation = replicated.confirmation if replicated is not None else None
        rest = RestAPI(
            self.runtime.http_registry, self.runtime.caller, http.max_body_size,
            authenticate=authenticate, compression_threshold=http.compression_threshold,
            last_modified=last_modified, reactor=self._reactor,
            confirm_replication=confirmation,
            analytics=self.runtime.analytics,
        )
        mqtt = MQTTWebSocketChannel.factory(self.mqtt.broker) if self.config.mqtt.web_socket else None
        remounting = RemountingRoot(rest, self.runtime)
        root = RealtimeResource(
            remounting, self.runtime.http_registry, self.runtime.caller, authenticate,
            mqtt=mqtt, web_socket=True,
            slow_consumers=(http.max_queued_messages, http.slow_consumer),
            max_message_size=http.max_web_socket_message_size,
        )
        access_log = LEVELS[self.config.logging.level.lower()] <= LogLevel.info
        guarded_root = guarded(root, http, self._reactor.seconds)
        lane = RestLane(guarded_root, rest, remounting.serves_rest, LaneLimits.of_config(http), self._reactor)
        idle = http.keep_alive_timeout / 1000.0
        if http.port:
            site = make_site(guarded_root, access_log, lane, idle, self._reactor)
            self._listen("http.port", http.port, listen_description(http.host, http.port), site).addCallback(
                lambda port: setattr(self, "http_port", port)
            )
        self._listen_tls(
            "http.securePort", http,
            lambda: self._certified(make_site(guarded_root, access_log, lane, idle, self._reactor), http.mtls),
        )

    def _listen_operations(self) -> None:
        operations = self.config.operations_api
        if not (operations.port or "operationsApi.securePort" in self._tls):
            return
        scope = attr.evolve(
            OperationScope.of_runtime(self.runtime, self._reactor),
            applications=self.applications, cluster=self.replication,
        )
        registry = default_operations()
        if self._forwarded is not None:
            registry = self._forwarded.operations(registry)
        elif self.worker is not None and self.replication is not None:
            serve_operations(self.worker.calls, registry, scope)
        api = OperationsAPI(scope, registry, self.config.http.max_body_size)
        if operations.port:
            description = listen_description(operations.host, operations.port)
            self._listen("operationsApi.port", operations.port, description, make_site(api.resource())).addCallback(
                lambda port: setattr(self, "operations_port", port)
            )
        self._listen_tls(
            "operationsApi.securePort", operations,
            lambda: self._certified(make_site(api.resource()), operations.mtls),
        )

    def _listen_mqtt(self) -> None:
        """
        Start the MQTT broker (first: MQTT over WebSocket on the HTTP port uses it too), then
        its listeners on C{mqtt.port} and, with TLS configured, C{mqtt.securePort}.
        """
        mqtt = self.config.mqtt
        peers = self.worker.broadcasts if self.worker is not None else None
        self.mqtt = BrokerService(build_broker(self.runtime, self._reactor), self.runtime.feed, peers)
        self.mqtt.setServiceParent(self)
        if mqtt.port:
            self._listen("mqtt.port", mqtt.port, listen_description(mqtt.host, mqtt.port), self.mqtt.factory())
        self._listen_tls("mqtt.securePort", mqtt, lambda: self.mqtt.factory(certificate_user(mqtt.mtls)))

    def _listen_tls(self, key: str, section: Any, factory: Callable[[], Any]) -> None:
        """
        Listen with the protocol factory that C{factory()} makes behind TLS on
        C{section.secure_port}, when the TLS port C{key} is configured.
        """
        options = self._tls.get(key)
        if options is not None:
            description = listen_description(section.host, section.secure_port)
            self._listen(key, section.secure_port, description, secured(options, factory()))

    def _certified(self, site: Any, mtls: Any) -> Any:
        """
        C{site}, logging in the users of client certificates as C{mtls} says.
        """
        identify = certificate_user(mtls)
        if identify is None:
            return site
        return certified_site(site, identify, self.runtime.access.authenticator.vouch)

    def _refuse_to_start(self, problems: Sequence[str]) -> None:
        """
        Report C{problems} in the log and on the operator's terminal (twistd sends
        C{sys.stderr} to the log), set L{exit_status} to 1 and stop the reactor.
        """
        self.exit_status = 1
        refuse_to_start(self._log, sys.__stderr__, self._reactor, problems)

    def _end_logging(self) -> None:
        if self._stop_logging is not None:
            self._stop_logging()
            self._stop_logging = None

    def stopService(self) -> Any:
        if not self.running:
            # Never started, or refused to start: the runtime is already stopped.
            self._end_logging()
            return None
        if self.worker is None:
            remove_run_file(self.config.root_path)
        for port in self._ports:
            port.stopListening()
        self._ports.clear()
        d = super().stopService()

        def closed(result: Any) -> Any:
            self.runtime.stop()
            self._end_logging()
            return result

        return d.addBoth(closed) if d is not None else closed(None)
