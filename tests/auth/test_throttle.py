"""
Tests for L{harper.auth.throttle}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from harper.auth.throttle import LoginThrottle, TooManyFailures
from harper.errors import Unauthorized


class LoginThrottleTests(SynchronousTestCase):
    """
    Failed logins counted per address within a window.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.throttle = LoginThrottle(self.clock, max_failures=3, window=60)

    def fail(self, address: str, times: int) -> None:
        for _ in range(times):
            self.throttle.check(address)
            self.throttle.failed(address)

    def test_refused_after_limit(self) -> None:
        """
        The address is refused once it reached the limit; the error is an L{Unauthorized}
        saying how long to wait.
        """
        self.fail("10.0.0.1", 3)
        error = self.assertRaises(TooManyFailures, self.throttle.check, "10.0.0.1")
        self.assertIsInstance(error, Unauthorized)
        self.assertEqual(error.message, "too many failed logins from this address; try again in 61 s")

    def test_other_addresses_unaffected(self) -> None:
        """
        Another address may still try.
        """
        self.fail("10.0.0.1", 3)
        self.throttle.check("10.0.0.2")

    def test_window_passes(self) -> None:
        """
        Failures older than the window are forgotten.
        """
        self.fail("10.0.0.1", 2)
        self.clock.advance(30)
        self.fail("10.0.0.1", 1)
        self.assertRaises(TooManyFailures, self.throttle.check, "10.0.0.1")
        self.clock.advance(30)
        self.throttle.check("10.0.0.1")

    def test_success_forgets(self) -> None:
        """
        A successful login clears the address's failures.
        """
        self.fail("10.0.0.1", 2)
        self.throttle.succeeded("10.0.0.1")
        self.fail("10.0.0.1", 2)
        self.throttle.check("10.0.0.1")

    def test_memory_bounded(self) -> None:
        """
        With failures from more addresses than it tracks, the throttle forgets the oldest
        address but keeps refusing the most recent ones.
        """
        throttle = LoginThrottle(self.clock, max_failures=1, window=60, max_addresses=3)
        for number in range(5):
            self.clock.advance(1)
            throttle.failed(f"10.0.0.{number}")
        throttle.check("10.0.0.0")
        self.assertRaises(TooManyFailures, throttle.check, "10.0.0.4")
