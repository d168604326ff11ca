# -*- test-case-name: tests.service.test_daemon -*-
"""
The root service of the daemon: opens the runtime, then the listeners, and closes them in
reverse order.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

from twisted.application import service
from twisted.internet import endpoints
from twisted.logger import Logger

from harper.admin.manhole import ManholeService
from harper.admin.namespace import build_namespace
from harper.components.runtime import Runtime
from harper.errors import StartupError
from harper.http.rest import RestAPI
from harper.http.site import HarperRoot, make_site
from harper.service.sweeper import ExpirationSweeper, scan_interval


def listen_description(host: str, port: int) -> str:
    """
    The endpoint description of a TCP listener (C{host} empty for every interface).
    """
    interface = f":interface={host.replace(':', chr(92) + ':')}" if host else ""
    return f"tcp:{port}{interface}"


class HarperService(service.MultiService):
    """
    Everything one harper process runs.

    :param config: the validated configuration.
    :param runtime: the runtime to start (database, tables, registry).
    :param reactor: the reactor to listen with.
    """

    _log = Logger()

    def __init__(self, config: Any, runtime: Runtime, reactor: Any) -> None:
        super().__init__()
        self.config = config
        self.runtime = runtime
        self._reactor = reactor
        self._ports: list[Any] = []
        self.http_port: Optional[Any] = None

    def startService(self) -> None:
        try:
            self.runtime.start()
        except Exception as error:
            message = error.message if isinstance(error, StartupError) else f"{type(error).__name__}: {error}"
            self._log.failure("harper cannot start: {message}", message=message)
            sys.stderr.write(f"harper cannot start: {message}\n")
            self.runtime.stop()
            self._reactor.callWhenRunning(self._reactor.stop)
            return
        self._add_children()
        super().startService()
        self._listen_http()

    def _add_children(self) -> None:
        intervals = [i for i in map(scan_interval, self.runtime.resources.values()) if i]
        if intervals:
            sweeper = ExpirationSweeper(
                self.runtime.runner.run, lambda: list(self.runtime.resources.values()), min(intervals)
            )
            sweeper.clock = self._reactor
            sweeper.setServiceParent(self)
        manhole = self.config.manhole
        if manhole.telnet_port or manhole.ssh_port:
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

    def _console_namespace(self) -> dict:
        return build_namespace(
            config=self.config,
            databases=self.runtime.databases,
            tables=self.runtime.tables,
            service=self,
        )

    def _listen_http(self) -> None:
        http = self.config.http
        if not http.port:
            return
        rest = RestAPI(self.runtime.registry, self.runtime.caller, http.max_body_size)
        mounts = [
            (application.export_path(url_path), resource)
            for application in self.runtime.applications
            for url_path, resource in application.http_resources
        ]
        site = make_site(HarperRoot(rest, mounts))
        endpoint = endpoints.serverFromString(self._reactor, listen_description(http.host, http.port))
        endpoint.listen(site).addCallbacks(self._listening, self._cannot_listen, errbackArgs=(http.port,))

    def _listening(self, port: Any) -> None:
        self._ports.append(port)
        self.http_port = port
        self._log.info("HTTP listening on {address}", address=port.getHost())

    def _cannot_listen(self, failure: Any, port: int) -> None:
        self._log.critical("cannot listen on port {port}: {reason}; stopping", port=port, reason=failure.getErrorMessage())
        self._reactor.stop()

    def stopService(self) -> Any:
        for port in self._ports:
            port.stopListening()
        self._ports.clear()
        d = super().stopService()

        def closed(result: Any) -> Any:
            self.runtime.stop()
            return result

        return d.addBoth(closed) if d is not None else closed(None)
