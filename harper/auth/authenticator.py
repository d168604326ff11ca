# -*- test-case-name: tests.auth.test_authenticator -*-
"""
Turning the credentials of a request into a user, the same way for every transport.

Transports pass the C{Authorization} header (or C{None}) and the client's address to
L{Authenticator.authenticate}: C{Basic} credentials are checked against the stored argon2id
hash (a successful check is remembered for a short while, so a client sending Basic on every
request does not pay for hashing each time), C{Bearer} tokens must be valid operation tokens,
and C{Certificate} credentials are those a TLS listener made with L{Authenticator.vouch} for a
verified client certificate.
Failed attempts count against the source address (see L{harper.auth.throttle}).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import secrets
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.auth.roles import SUPER_USER_ROLE, Role, User
from harper.auth.sessions import SESSION_SCHEME, Sessions
from harper.auth.throttle import LoginThrottle
from harper.auth.tokens import OPERATION, REFRESH, ExpiredToken, TokenIssuer
from harper.auth.users import Users
from harper.errors import Unauthorized

#: The C{Authorization} scheme of L{Authenticator.vouch}.
CERTIFICATE_SCHEME = "Certificate"

#: The user of requests from this machine when C{authentication.authorizeLocal} is on.
LOCAL_USER = User("local", Role(SUPER_USER_ROLE, SUPER_USER_ROLE, {"super_user": True}))


@functools.lru_cache(maxsize=4096)
def is_loopback(address: str) -> bool:
    """
    Whether C{address} (an IP address as text) is on this machine's loopback interface
    (remembered per address: it is asked for every request).
    """
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _basic_credentials(encoded: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    username, colon, password = text.partition(":")
    if not colon or not username:
        raise Unauthorized("the Basic credentials are not base64 of username:password")
    return username, password


class _VerifiedLogins:
    """
    Recently verified (username, password) pairs, kept as keyed digests, never in clear.
    """

    def __init__(self, clock: IReactorTime, ttl: float, users: Users, size: int = 1000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._users = users
        self._size = size
        self._secret = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[User, float, int]] = {}

    def _digest(self, username: str, password: str) -> bytes:
        message = username.encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def get(self, username: str, password: str) -> Optional[User]:
        entry = self._entries.get(self._digest(username, password))
        if entry is None:
            return None
        user, expires, version = entry
        if expires <= self._clock.seconds() or version != self._users.version:
            return None
        return user

    def add(self, username: str, password: str, user: User) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        expires = self._clock.seconds() + self._ttl
        self._entries[self._digest(username, password)] = (user, expires, self._users.version)


class Authenticator:
    """
    Finds the user behind a request's credentials.

    :param users: the stored users.
    :param tokens: checks operation and refresh tokens.
    :param throttle: counts failed logins per address.
    :param clock: the time source.
    :param authorize_local: treat requests from loopback addresses without credentials as
        a super user (C{authentication.authorizeLocal}).
    :param cache_ttl: seconds a verified password is remembered.
    :param sessions: the cookie sessions (C{Session} credentials, see
        L{harper.auth.sessions.credentials}); refused when C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        users: Users,
        tokens: TokenIssuer,
        throttle: LoginThrottle,
        clock: IReactorTime,
        authorize_local: bool = False,
        cache_ttl: float = 30.0,
        sessions: Optional[Sessions] = None,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.throttle = throttle
        self._authorize_local = authorize_local
        self.sessions = sessions
        self._verified = _VerifiedLogins(clock, cache_ttl, users)
        self._vouch_key = secrets.token_bytes(32)

    def authenticate(
        self, authorization: Optional[str], client_address: str
    ) -> Deferred[Optional[User]]:
        """
        The user a request's C{Authorization} header names.

        :param authorization: the header's value, or C{None} when the request has none.
        :param client_address: the IP address the request came from.
        :return: a Deferred firing with the user, or with C{None} for a request without
            credentials (the caller decides whether anonymous access is allowed); it fails
            with L{Unauthorized} for credentials that are wrong, malformed, expired, or sent
            from an address refused after too many failures.
        """
        if not authorization and self._authorize_local and is_loopback(client_address):
            return succeed(LOCAL_USER)  # the common local case, without a coroutine
        return Deferred.fromCoroutine(self._authenticate(authorization, client_address))

    def vouch(self, username: str) -> str:
        """
        The C{Authorization} value with which a transport that verified a client certificate
        naming C{username} (mutual TLS) lets L{authenticate} find that user. It carries a
        digest keyed by a secret of this process, so no client can make one up.
        """
        encoded = base64.b64encode(username.encode("utf-8")).decode("ascii")
        return f"{CERTIFICATE_SCHEME} {encoded}.{self._vouch_digest(encoded)}"

    def _vouch_digest(self, encoded: str) -> str:
        return hmac.new(self._vouch_key, encoded.encode("utf-8"), hashlib.sha256).hexdigest()

    def login(self, username: str, password: str, client_address: str) -> Deferred[User]:
        """
        The user with this username and password; fails with L{Unauthorized} otherwise.
        """
        return Deferred.fromCoroutine(self._login(username, password, client_address))

    def refresh(self, refresh_token: str, client_address: str) -> Deferred[User]:
        """
        The user a valid refresh token was issued to; fails with L{Unauthorized} otherwise.
        """
        return Deferred.fromCoroutine(self._token_user(refresh_token, REFRESH, client_address))

    async def _authenticate(
        self, authorization: Optional[str], client_address: str
    ) -> Optional[User]:
        if not authorization or not authorization.strip():
            if self._authorize_local and is_loopback(client_address):
                return LOCAL_USER
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            username, password = _basic_credentials(credentials)
            return await self._login(username, password, client_address)
        if scheme == "bearer":
            return await self._token_user(credentials.strip(), OPERATION, client_address)
        if scheme == SESSION_SCHEME.lower() and self.sessions is not None:
            return await self._session_user(credentials.strip(), client_address)
        if scheme == CERTIFICATE_SCHEME.lower():
            return await self._certified_user(credentials.strip())
        raise Unauthorized(f"unsupported authorization scheme {scheme!r}; use Basic or Bearer")

    async def _login(self, username: str, password: str, client_address: str) -> User:
        self.throttle.check(client_address)
        user = self._verified.get(username, password)
        if user is None:
            user = await self.users.verify(username, password)
        if user is None:
            self.throttle.failed(client_address)
            self._log.info(
                "failed login for {username} from {address}",
                username=username,
                address=client_address,
            )
            raise Unauthorized("wrong username or password")
        self.throttle.succeeded(client_address)
        self._verified.add(username, password, user)
        return user

    async def _certified_user(self, credentials: str) -> User:
        encoded, _, digest = credentials.rpartition(".")
        expected = self._vouch_digest(encoded).encode("ascii")
        if not hmac.compare_digest(digest.encode("utf-8"), expected):
            raise Unauthorized("certificate credentials come from the TLS layer, not from clients")
        username = base64.b64decode(encoded).decode("utf-8")
        user: Any = await self.users.get_user(username)
        if user is None or not user.active:
            raise Unauthorized(
                f"the client certificate names {username!r}, who is not an active user"
            )
        return user

    async def _session_user(self, secret: str, client_address: str) -> User:
        self.throttle.check(client_address)
        username = await self.sessions.username(secret)
        if username is None:
            self.throttle.failed(client_address)
            raise Unauthorized("the session has expired or was closed: log in again")
        user: Any = await self.users.get_user(username)
        if user is None or not user.active:
            raise Unauthorized(f"the session's user {username!r} no longer exists or is inactive")
        return user

    async def _token_user(self, token: str, kind: str, client_address: str) -> User:
        self.throttle.check(client_address)
        try:
            username = self.tokens.username(token, kind)
        except ExpiredToken:
            raise
        except Unauthorized:
            self.throttle.failed(client_address)
            raise
        user: Any = await self.users.get_user(username)
        if user is None or not user.active:
            raise Unauthorized(f"the token's user {username!r} no longer exists or is inactive")
        return user
