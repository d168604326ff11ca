"""
Tests for L{harper.auth.sessions} and the C{Session} credentials of
L{harper.auth.authenticator.Authenticator}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from harper.auth.authenticator import Authenticator
from harper.auth.sessions import Sessions, credentials, session_cookie, session_secret
from harper.auth.throttle import LoginThrottle
from harper.auth.tokens import TokenIssuer
from harper.errors import Unauthorized
from tests.auth.helpers import make_users


class SessionsTests(TestCase):
    """
    Sessions stored in the session table, and the authenticator's use of them.
    """

    async def setUp(self) -> None:
        self.clock = Clock()
        self.users, self.runner, tables = make_users(self)
        self.users.bootstrap(None)
        await self.users.add_role("dogs", {"data": {"tables": {"Dog": {"read": True}}}})
        await self.users.add_user("ann", "ann-pw", "dogs")
        self.table = tables[2]
        self.sessions = Sessions(self.runner, self.table, self.clock, 3600)
        self.authenticator = Authenticator(
            self.users, TokenIssuer(b"k" * 32, self.clock, 60, 600), LoginThrottle(self.clock),
            self.clock, sessions=self.sessions,
        )

    async def test_open_and_close(self) -> None:
        """
        An open session names its user until it is closed; closing it twice finds nothing
        the second time.
        """
        secret = await self.sessions.open("ann")
        self.assertEqual(await self.sessions.username(secret), "ann")
        self.assertEqual(await self.sessions.username(secret + "x"), None)
        self.assertTrue(await self.sessions.close(secret))
        self.assertEqual(await self.sessions.username(secret), None)
        self.assertFalse(await self.sessions.close(secret))

    async def test_expiry(self) -> None:
        """
        A session ends C{lifetime} seconds after it was opened, and is deleted when it is
        next presented.
        """
        secret = await self.sessions.open("ann")
        self.clock.advance(3599)
        self.assertEqual(await self.sessions.username(secret), "ann")
        self.clock.advance(1)
        self.assertEqual(await self.sessions.username(secret), None)
        self.assertFalse(await self.sessions.close(secret))

    async def test_secret_not_stored(self) -> None:
        """
        The table keeps a digest of the secret, never the secret itself.
        """
        secret = await self.sessions.open("ann")
        records = self.runner.run_blocking(
            lambda txn: [entry.value for entry in self.table.scan(txn)]
        )
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["username"], "ann")
        self.assertNotIn(secret, repr(records))

    async def test_authenticate(self) -> None:
        """
        C{Session} credentials give the session's user while the session is open, and
        L{Unauthorized} once it is closed.
        """
        secret = await self.sessions.open("ann")
        user = await self.authenticator.authenticate(f"Session {secret}", "10.0.0.1")
        self.assertEqual((user.username, user.role.name), ("ann", "dogs"))
        await self.sessions.close(secret)
        error = await self.assertFailure(
            self.authenticator.authenticate(f"Session {secret}", "10.0.0.1"), Unauthorized
        )
        self.assertEqual(error.message, "the session has expired or was closed: log in again")

    async def test_sessions_off(self) -> None:
        """
        Without sessions, C{Session} credentials are an unsupported scheme.
        """
        self.authenticator.sessions = None
        await self.assertFailure(self.authenticator.authenticate("Session abc", "10.0.0.1"), Unauthorized)


class CookieTests(SynchronousTestCase):
    """
    L{credentials}, L{session_secret} and L{session_cookie}.
    """

    def test_credentials(self) -> None:
        """
        The C{Authorization} header wins; without it the session cookie becomes C{Session}
        credentials; without either there are none.
        """
        cookie = "theme=dark; hdb-session=abc123"
        self.assertEqual(credentials("Basic eA==", cookie), "Basic eA==")
        self.assertEqual(credentials(None, cookie), "Session abc123")
        self.assertEqual(credentials(None, "theme=dark"), None)
        self.assertEqual(credentials(None, None), None)

    def test_malformed_cookie(self) -> None:
        """
        A C{Cookie} header that does not parse, or an empty session cookie, gives no secret.
        """
        self.assertEqual(session_secret('hdb-session="unterminated'), None)
        self.assertEqual(session_secret("hdb-session="), None)

    def test_cookie_attributes(self) -> None:
        """
        The cookie is HttpOnly and SameSite=Strict always, Secure on TLS, and has the
        session's lifetime.
        """
        self.assertEqual(session_cookie("abc", 3600, False),
                         "hdb-session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict")
        self.assertTrue(session_cookie("abc", 3600, True).endswith("; Secure"))
