# -*- test-case-name: tests.mqtt.test_end_to_end -*-
"""
The broker as part of the daemon: L{build_broker} wires it to a started runtime (its database,
resources, change feed and users), and L{BrokerService} starts and stops it with the daemon.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.application import service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from harper.errors import Unauthorized
from harper.mqtt.broker import Authenticate, Broker
from harper.mqtt.mapping import ResourceTopics
from harper.mqtt.protocol import MQTTFactory
from harper.mqtt.session import SessionSettings
from harper.mqtt.store import BrokerStore


def login_with(authenticator: Any) -> Authenticate:
    """
    CONNECT credentials checked by a L{harper.auth.authenticator.Authenticator}: fires with
    the user, or C{None} for wrong credentials.
    """

    def authenticate(username: str, password: bytes, address: str) -> Deferred:
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            return succeed(None)
        d = authenticator.login(username, text, address)

        def refused(failure: Any) -> None:
            failure.trap(Unauthorized)
            return None

        return d.addErrback(refused)

    return authenticate


def build_broker(runtime: Any, clock: IReactorTime, settings: Optional[SessionSettings] = None,
                 authenticate: Optional[Authenticate] = None) -> Broker:
    """
    A broker over a started L{harper.components.runtime.Runtime}: retained messages, sessions
    and wills in its database, its exported resources as topics, its users for CONNECT (unless
    C{authenticate} is given) and for stored wills, and C{mqtt.requireAuthentication} and the
    session limits (unless C{settings} are given) from its configuration.
    """
    runner = runtime.runner
    transact: Callable = runtime.writer.submit if runtime.writer is not None else runner.run
    store = BrokerStore(transact, runner.run_blocking)
    resources = ResourceTopics(runtime.registry, runtime.caller)
    find_user = None
    if runtime.access is not None:
        find_user = runtime.access.users.get_user
        if authenticate is None:
            authenticate = login_with(runtime.access.authenticator)
    mqtt = runtime.config.mqtt
    if settings is None:
        settings = SessionSettings.from_config(mqtt)
    return Broker(clock, store, resources, authenticate, mqtt.require_authentication, settings,
                  find_user)


class BrokerService(service.Service):
    """
    Starts the broker (restoring its state) and feeds it the runtime's committed changes;
    stopping disconnects the clients and stores the persistent sessions.

    :param broker: the broker.
    :param feed: the change feed of the runtime, or C{None}.
    :param peers: in a worker process, the worker's L{harper.workers.bus.Broadcasts}, to
        exchange plain-topic messages with the other workers' brokers; C{None} otherwise.
    """

    name = "mqtt"

    def __init__(self, broker: Broker, feed: Any = None, peers: Any = None) -> None:
        self.broker = broker
        self._feed = feed
        self._peers = peers
        self._stop_listening: Optional[Callable[[], None]] = None
        self._leave: Optional[Callable[[], None]] = None

    def factory(self, identify: Optional[Callable[[Any], Optional[str]]] = None) -> MQTTFactory:
        """
        A protocol factory for one more listener (TCP, TLS).

        :param identify: names the user of a connection's verified client certificate (see
            L{harper.mqtt.protocol.MQTTServerProtocol}).
        """
        return MQTTFactory(self.broker, self.broker.clock, identify)

    def startService(self) -> None:
        super().startService()
        self.broker.start()
        if self._feed is not None:
            self._stop_listening = self._feed.listen(self.broker.change_committed)
        if self._peers is not None:
            self._leave = self.broker.join(self._peers)

    def stopService(self) -> Deferred:
        super().stopService()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._leave is not None:
            self._leave()
            self._leave = None
        return self.broker.stop()
