# -*- test-case-name: tests.auth.test_sessions -*-
"""
Cookie sessions: the C{login} operation opens one and sets its secret as an C{HttpOnly}
cookie; every HTTP transport (REST, WebSocket, SSE, operations API) then accepts the cookie
instead of credentials (L{credentials}), until C{logout} closes the session or it expires.

Sessions live in the C{system.hdb_session} table, so they survive a restart; only a digest of
each secret is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from http.cookies import CookieError, SimpleCookie
from typing import Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from harper.database.table import Table
from harper.database.transaction import Transaction, TransactionRunner

#: The cookie that carries a session's secret.
COOKIE_NAME = "hdb-session"

#: The C{Authorization} scheme L{credentials} gives a request that sends only the cookie.
SESSION_SCHEME = "Session"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Sessions:
    """
    The open sessions.

    :param runner: runs the transactions.
    :param table: the C{hdb_session} table.
    :param clock: the time source.
    :param lifetime: seconds a session lasts after login.
    """

    def __init__(
        self, runner: TransactionRunner, table: Table, clock: IReactorTime, lifetime: float
    ) -> None:
        self._runner = runner
        self._table = table
        self._clock = clock
        self.lifetime = lifetime

    def open(self, username: str) -> Deferred[str]:
        """
        Start a session for C{username}; fires with its secret (the cookie's value).
        """
        secret = secrets.token_urlsafe(32)
        record = {"id": _digest(secret), "username": username,
                  "expires": self._clock.seconds() + self.lifetime}

        def work(txn: Transaction) -> str:
            self._table.put(txn, record)
            return secret

        return self._runner.run(work)

    def username(self, secret: str) -> Deferred[Optional[str]]:
        """
        The user of the session with this secret, or C{None} when there is no such session
        or it has expired (an expired session is deleted).
        """
        key, now = _digest(secret), self._clock.seconds()

        def work(txn: Transaction) -> Optional[str]:
            record = self._table.get(txn, key)
            if record is None:
                return None
            if record["expires"] <= now:
                self._table.delete(txn, key)
                return None
            return record["username"]

        return self._runner.run(work)

    def close(self, secret: str) -> Deferred[bool]:
        """
        End the session with this secret; fires with whether there was one.
        """
        key = _digest(secret)
        return self._runner.run(lambda txn: self._table.delete(txn, key))


def session_secret(cookie_header: Optional[str]) -> Optional[str]:
    """
    The session secret in a C{Cookie} header, or C{None}.
    """
    if not cookie_header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except CookieError:
        return None
    morsel = cookies.get(COOKIE_NAME)
    return morsel.value if morsel is not None and morsel.value else None


def credentials(authorization: Optional[str], cookie: Optional[str]) -> Optional[str]:
    """
    The credentials of an HTTP request (or WebSocket upgrade), as an C{Authorization} value
    for L{harper.auth.authenticator.Authenticator.authenticate}: the request's own
    C{authorization} header, or, without one, C{Session <secret>} from the session cookie in
    its C{cookie} header.
    """
    if authorization:
        return authorization
    secret = session_secret(cookie)
    return f"{SESSION_SCHEME} {secret}" if secret is not None else None


def session_cookie(secret: str, max_age: float, secure: bool) -> str:
    """
    The C{Set-Cookie} value that gives the client a session (C{max_age} 0 removes it):
    C{HttpOnly} so scripts cannot read it, C{SameSite=Strict} so other sites cannot send it,
    and C{Secure} on TLS connections.
    """
    attributes = [f"{COOKIE_NAME}={secret}", "Path=/", f"Max-Age={int(max_age)}", "HttpOnly",
                  "SameSite=Strict"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)
