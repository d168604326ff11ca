"""
Tests for L{harper.auth.authenticator}: the one entry point every transport authenticates
through.
"""

from __future__ import annotations

import base64

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from harper.auth.authenticator import LOCAL_USER, Authenticator, is_loopback
from harper.auth.throttle import LoginThrottle, TooManyFailures
from harper.auth.tokens import OPERATION, REFRESH, ExpiredToken, TokenIssuer
from harper.errors import Unauthorized
from tests.auth.helpers import make_users


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class AuthenticatorTests(TestCase):
    """
    Basic credentials, Bearer tokens, anonymous requests and brute-force protection.
    """

    async def setUp(self) -> None:
        self.clock = Clock()
        self.users, _, _ = make_users(self)
        self.users.bootstrap(("root", "pw"))
        await self.users.add_role("dogs", {"data": {"tables": {"Dog": {"read": True}}}})
        await self.users.add_user("ann", "ann-pw", "dogs")
        self.tokens = TokenIssuer(b"k" * 32, self.clock, 60, 600)
        self.throttle = LoginThrottle(self.clock, max_failures=10, window=60)
        self.authenticator = Authenticator(self.users, self.tokens, self.throttle, self.clock)

    def authenticate(self, header: object, address: str = "10.0.0.1") -> object:
        return self.authenticator.authenticate(header, address)

    async def test_basic(self) -> None:
        """
        Basic credentials give the user with their role.
        """
        user = await self.authenticate(basic("ann", "ann-pw"))
        self.assertEqual((user.username, user.role.name, user.super_user), ("ann", "dogs", False))
        self.assertTrue((await self.authenticate(basic("root", "pw"))).super_user)

    async def test_basic_wrong(self) -> None:
        """
        A wrong password, an unknown user and malformed credentials are L{Unauthorized}.
        """
        for header, message in [
            (basic("ann", "nope"), "wrong username or password"),
            (basic("bob", "ann-pw"), "wrong username or password"),
            ("Basic !!!", "the Basic credentials are not base64 of username:password"),
            ("Basic " + base64.b64encode(b"no-colon").decode(), "the Basic credentials are not base64 of username:password"),
            ("Negotiate abc", "unsupported authorization scheme 'negotiate'; use Basic or Bearer"),
        ]:
            error = await self.assertFailure(self.authenticate(header), Unauthorized)
            self.assertEqual(error.message, message)

    async def test_anonymous(self) -> None:
        """
        A request without credentials is anonymous (C{None}), even from loopback, since
        C{authorizeLocal} is off by default.
        """
        self.assertIsNone(await self.authenticate(None))
        self.assertIsNone(await self.authenticate("  ", "127.0.0.1"))

    async def test_authorize_local(self) -> None:
        """
        With C{authorize_local}, a request without credentials from loopback is a super user;
        from elsewhere it is still anonymous.
        """
        local = Authenticator(self.users, self.tokens, self.throttle, self.clock, authorize_local=True)
        self.assertIs(await local.authenticate(None, "127.0.0.1"), LOCAL_USER)
        self.assertIs(await local.authenticate(None, "::1"), LOCAL_USER)
        self.assertIsNone(await local.authenticate(None, "10.0.0.1"))

    def test_authorize_local_at_once(self) -> None:
        """
        The local user of a request without credentials is known at once (the Deferred has
        fired when returned: REST answers such requests without waiting), and whitespace
        for credentials is still no credentials.
        """
        local = Authenticator(
            self.users, self.tokens, self.throttle, self.clock, authorize_local=True
        )
        self.assertIs(self.successResultOf(local.authenticate(None, "127.0.0.1")), LOCAL_USER)
        self.assertIs(self.successResultOf(local.authenticate("", "::1")), LOCAL_USER)
        self.assertIs(self.successResultOf(local.authenticate(" ", "127.0.0.1")), LOCAL_USER)
        self.assertIsNone(self.successResultOf(local.authenticate(None, "192.0.2.1")))

    async def test_bearer(self) -> None:
        """
        An operation token authenticates until it expires; a refresh token does not; the
        refresh token gives the user through L{Authenticator.refresh}.
        """
        token = self.tokens.issue("ann", OPERATION)
        self.assertEqual((await self.authenticate("Bearer " + token)).username, "ann")
        refresh = self.tokens.issue("ann", REFRESH)
        await self.assertFailure(self.authenticate("Bearer " + refresh), Unauthorized)
        self.assertEqual((await self.authenticator.refresh(refresh, "10.0.0.1")).username, "ann")
        self.clock.advance(60)
        await self.assertFailure(self.authenticate("Bearer " + token), ExpiredToken)

    async def test_bearer_user_gone(self) -> None:
        """
        A token of a user that was dropped or deactivated is refused.
        """
        token = self.tokens.issue("ann", OPERATION)
        await self.users.alter_user("ann", active=False)
        error = await self.assertFailure(self.authenticate("Bearer " + token), Unauthorized)
        self.assertEqual(error.message, "the token's user 'ann' no longer exists or is inactive")

    async def test_password_change_forgets_cache(self) -> None:
        """
        A remembered login is not used after the user's password changed.
        """
        await self.authenticate(basic("ann", "ann-pw"))
        await self.users.alter_user("ann", password="new")
        await self.assertFailure(self.authenticate(basic("ann", "ann-pw")), Unauthorized)
        self.assertEqual((await self.authenticate(basic("ann", "new"))).username, "ann")

    async def test_cache_expires(self) -> None:
        """
        A remembered login is checked again after the cache lifetime.
        """
        await self.authenticate(basic("ann", "ann-pw"))
        self.users.passwords = _Refusing()
        self.assertEqual((await self.authenticate(basic("ann", "ann-pw"))).username, "ann")
        self.clock.advance(30)
        await self.assertFailure(self.authenticate(basic("ann", "ann-pw")), Unauthorized)

    async def test_brute_force(self) -> None:
        """
        Fifty wrong passwords from one address: after the tenth the address is refused, even
        with the right password, while the right password from another address works.
        """
        refused = 0
        for _ in range(50):
            try:
                await self.authenticate(basic("root", "guess"), "10.6.6.6")
            except TooManyFailures:
                refused += 1
            except Unauthorized:
                pass
        self.assertEqual(refused, 40)
        await self.assertFailure(self.authenticate(basic("root", "pw"), "10.6.6.6"), TooManyFailures)
        self.assertTrue((await self.authenticate(basic("root", "pw"), "10.0.0.2")).super_user)

    async def test_forged_tokens_count(self) -> None:
        """
        Invalid tokens count as failed logins; expired ones do not.
        """
        expired = self.tokens.issue("ann", OPERATION)
        self.clock.advance(61)
        for _ in range(10):
            await self.assertFailure(self.authenticate("Bearer " + expired), ExpiredToken)
        self.throttle.check("10.0.0.1")
        for _ in range(10):
            await self.assertFailure(self.authenticate("Bearer forged"), Unauthorized)
        self.assertRaises(TooManyFailures, self.throttle.check, "10.0.0.1")


class _Refusing:
    """
    Password hashing that matches nothing.
    """

    def verify(self, stored: object, password: str) -> bool:
        return False


class LoopbackTests(SynchronousTestCase):
    """
    L{is_loopback}.
    """

    def test_addresses(self) -> None:
        """
        IPv4 and IPv6 loopback addresses are loopback; others and non-addresses are not.
        """
        self.assertTrue(is_loopback("127.0.0.1"))
        self.assertTrue(is_loopback("127.1.2.3"))
        self.assertTrue(is_loopback("::1"))
        self.assertFalse(is_loopback("10.0.0.1"))
        self.assertFalse(is_loopback(""))
        self.assertFalse(is_loopback("localhost"))
