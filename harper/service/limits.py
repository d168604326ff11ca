# -*- test-case-name: tests.service.test_limits -*-
"""
A bound on the connections a server (HTTP, operations API, MQTT) holds open at once.

L{ConnectionLimit} counts the open connections of every listener of one server (its plain and
its TLS port) and L{ConnectionLimit.wrap} puts it in front of a listener's protocol factory.
A connection accepted while the bound is reached gets no protocol: the listening port closes
it at once, before any byte (or TLS handshake) is read. Refusals are counted, and logged at
most once per L{LOG_INTERVAL} seconds, so a client hammering a full server cannot flood the
log.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.interfaces import IAddress, IProtocol, IProtocolFactory, IReactorTime
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

#: Seconds between two log lines about refused connections of one server.
LOG_INTERVAL = 10.0


class ConnectionLimit:
    """
    The open connections of one server, and those it refused.

    :param limit: the most connections open at once (at least 1).
    :param key: the configuration key of the bound, named in the log
        (C{"http.maxConnections"}).
    :param clock: the time of refusals, to space the log lines.
    :param log_interval: seconds between two log lines about refusals.
    :ivar open: the connections open now.
    :ivar refused: the connections refused since the server started.
    """

    _log = Logger()

    def __init__(self, limit: int, key: str, clock: IReactorTime,
                 log_interval: float = LOG_INTERVAL) -> None:
        if limit < 1:
            raise ValueError(f"a connection limit must be at least 1, not {limit!r}")
        self.limit = limit
        self.key = key
        self.open = 0
        self.refused = 0
        self._clock = clock
        self._log_interval = log_interval
        self._quiet_until = float("-inf")
        self._refused_when_logged = 0

    def wrap(self, factory: IProtocolFactory) -> IProtocolFactory:
        """
        C{factory}, with its connections counted against this limit.
        """
        return _LimitedFactory(self, factory)

    def admits(self) -> bool:
        """
        Whether one more connection may open now; when not, the refusal is counted (and
        logged unless one was logged less than C{log_interval} seconds ago).
        """
        if self.open < self.limit:
            return True
        self.refused += 1
        now = self._clock.seconds()
        if now >= self._quiet_until:
            self._log.warn(
                "{key} reached: {count} connection(s) refused since the last report "
                "({limit} open, {total} refused in all)",
                key=self.key, count=self.refused - self._refused_when_logged,
                limit=self.limit, total=self.refused,
            )
            self._quiet_until = now + self._log_interval
            self._refused_when_logged = self.refused
        return False


class _LimitedFactory(WrappingFactory):
    """
    A listener's protocol factory behind a L{ConnectionLimit}: builds no protocol past it.
    """

    def __init__(self, limit: ConnectionLimit, factory: IProtocolFactory) -> None:
        super().__init__(factory)
        self._limit = limit

    def buildProtocol(self, addr: IAddress) -> Optional[IProtocol]:
        if not self._limit.admits():
            return None
        protocol = self.wrappedFactory.buildProtocol(addr)
        return None if protocol is None else ProtocolWrapper(self, protocol)

    def registerProtocol(self, protocol: Any) -> None:
        self._limit.open += 1

    def unregisterProtocol(self, protocol: Any) -> None:
        self._limit.open -= 1
