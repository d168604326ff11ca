# -*- test-case-name: tests.auth.test_throttle -*-
"""
Slowing down password guessing: failed logins are counted per source address, and an address
that failed too often within a window is refused until the window has passed, without its
passwords being checked at all. Other addresses are not affected.
"""

from __future__ import annotations

import collections
from typing import Deque

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.errors import Unauthorized


class TooManyFailures(Unauthorized):
    """
    The source address failed to log in too often; it must wait.

    :ivar retry_after: seconds until the address may try again.
    """

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many failed logins from this address; try again in {int(retry_after) + 1} s"
        )


class LoginThrottle:
    """
    Counts failed logins per address.

    :param clock: the time source.
    :param max_failures: failures allowed within C{window} seconds.
    :param window: seconds a failure is remembered.
    :param max_addresses: addresses tracked before the ones with only old failures are
        forgotten (bounds memory under an attack from many addresses).
    """

    _log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        max_failures: int = 10,
        window: float = 60.0,
        max_addresses: int = 10000,
    ) -> None:
        self._clock = clock
        self._max_failures = max_failures
        self._window = window
        self._max_addresses = max_addresses
        self._failures: dict[str, Deque[float]] = {}

    def check(self, address: str) -> None:
        """
        Raise L{TooManyFailures} if C{address} must wait before trying again.
        """
        failures = self._recent(address)
        if len(failures) >= self._max_failures:
            raise TooManyFailures(failures[0] + self._window - self._clock.seconds())

    def failed(self, address: str) -> None:
        """
        Count one failed login from C{address}.
        """
        if address not in self._failures and len(self._failures) >= self._max_addresses:
            self._forget_old()
        failures = self._failures.setdefault(address, collections.deque(maxlen=self._max_failures))
        failures.append(self._clock.seconds())
        if len(failures) == self._max_failures:
            self._log.warn("{address} failed to log in {count} times; refusing it for a while",
                           address=address, count=len(failures))

    def succeeded(self, address: str) -> None:
        """
        Forget the failures of C{address} after a successful login.
        """
        self._failures.pop(address, None)

    def _recent(self, address: str) -> Deque[float]:
        failures = self._failures.get(address, collections.deque())
        horizon = self._clock.seconds() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
        return failures

    def _forget_old(self) -> None:
        for address in list(self._failures):
            self._recent(address)
        if len(self._failures) >= self._max_addresses:
            oldest = min(self._failures, key=lambda address: self._failures[address][-1])
            del self._failures[oldest]
