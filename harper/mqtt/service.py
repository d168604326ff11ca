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


def build_broker(runtime: Any, clock: IReactorTime, settings: SessionSettings = SessionSettings(),
                 authenticate: Optional[Authenticate] = None) -> Broker:
    """
    A broker over a started L{harper.components.runtime.Runtime}: retained messages and
    sessions in its database, its exported resources as topics, its users for CONNECT (unless
    C{authenticate} is given) and C{mqtt.requireAuthentication} from its configuration.
    """
    runner = runtime.runner
    transact: Callable = runtime.writer.submit if runtime.writer is not None else runner.run
    store = BrokerStore(transact, runner.run_blocking)
    resources = ResourceTopics(runtime.registry, runtime.caller)
    if authenticate is None and runtime.access is not None:
        authenticate = login_with(runtime.access.authenticator)
    return Broker(clock, store, resources, authenticate,
                  runtime.config.mqtt.require_authentication, settings)


class BrokerService(service.Service):
    """
    Starts the broker (restoring its state) and feeds it the runtime's committed changes;
    stopping disconnects the clients and stores the persistent sessions.

    :param broker: the broker.
    :param feed: the change feed of the runtime, or C{None}.
    """

    name = "mqtt"

    def __init__(self, broker: Broker, feed: Any = None) -> None:
        self.broker = broker
        self._feed = feed
        self._stop_listening: Optional[Callable[[], None]] = None

    def factory(self) -> MQTTFactory:
        """
        A protocol factory for one more listener (TCP, TLS).
        """
        return MQTTFactory(self.broker, self.broker.clock)

    def startService(self) -> None:
        super().startService()
        self.broker.start()
        if self._feed is not None:
            self._stop_listening = self._feed.listen(self.broker.change_committed)

    def stopService(self) -> Deferred:
        super().stopService()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        return self.broker.stop()
