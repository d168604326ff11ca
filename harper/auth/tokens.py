# -*- test-case-name: tests.auth.test_tokens -*-
"""
Operation and refresh tokens: JSON Web Tokens signed with HS256.

The signing key is 32 random bytes generated on the first start in C{<rootPath>/keys}, readable
by the daemon's user only. An operation token authenticates requests; a refresh token only
buys a new operation token. Both carry C{username} and C{sub} (C{"operation"} or
C{"refresh"}) and expire after the lifetimes configured in C{authentication}.
"""

from __future__ import annotations

import os
import secrets
import stat
from typing import Any

import jwt
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from harper.errors import Unauthorized

OPERATION = "operation"
REFRESH = "refresh"

_ALGORITHM = "HS256"
_KEY_FILE = "jwt-hs256.key"
_KEY_BYTES = 32
_NAMES = {OPERATION: "an operation token", REFRESH: "a refresh token"}

class ExpiredToken(Unauthorized):
    """
    The token was valid once but its lifetime is over.
    """


class SigningKeyFile:
    """
    The file holding the token signing key.

    :param keys_dir: the folder of harper's keys (C{<rootPath>/keys}).
    """

    _log = Logger()

    def __init__(self, keys_dir: str) -> None:
        self.path = os.path.join(keys_dir, _KEY_FILE)

    def read_or_create(self) -> bytes:
        """
        The stored key, created (mode 0600, in a 0700 folder) when absent. A key file that
        others can read has its permissions narrowed, with a warning.

        :raises ValueError: when the file is too short to hold a key.
        """
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read()
        key = secrets.token_bytes(_KEY_BYTES)
        with os.fdopen(descriptor, "wb") as created:
            created.write(key)
        return key

    def _read(self) -> bytes:
        if stat.S_IMODE(os.stat(self.path).st_mode) & 0o077:
            self._log.warn("{path} was readable by others; narrowing it to 0600", path=self.path)
            os.chmod(self.path, 0o600)
        with open(self.path, "rb") as existing:
            key = existing.read()
        if len(key) < _KEY_BYTES:
            raise ValueError(
                f"{self.path} is too short to be a signing key; delete it to make a new one"
            )
        return key


class TokenIssuer:
    """
    Issues and checks tokens.

    :param key: the HS256 signing key.
    :param clock: the time source (C{reactor} or a test C{Clock}).
    :param operation_lifetime: seconds an operation token is valid.
    :param refresh_lifetime: seconds a refresh token is valid.
    """

    def __init__(
        self, key: bytes, clock: IReactorTime, operation_lifetime: float, refresh_lifetime: float
    ) -> None:
        self._key = key
        self._clock = clock
        self._lifetimes = {OPERATION: operation_lifetime, REFRESH: refresh_lifetime}

    def issue(self, username: str, kind: str) -> str:
        """
        A new token of C{kind} (L{OPERATION} or L{REFRESH}) for C{username}.
        """
        now = int(self._clock.seconds())
        expires = now + int(self._lifetimes[kind])
        claims = {"username": username, "sub": kind, "iat": now, "exp": expires}
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def username(self, token: str, kind: str) -> str:
        """
        The username a valid, unexpired token of C{kind} was issued to.

        :raises ExpiredToken: for a token past its lifetime.
        :raises Unauthorized: for a token that is malformed, tampered with or of the other kind.
        """
        claims = self._claims(token)
        if claims.get("sub") != kind:
            raise Unauthorized(f"the token is not {_NAMES[kind]}")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= self._clock.seconds():
            raise ExpiredToken("the token has expired")
        username = claims.get("username")
        if not isinstance(username, str):
            raise Unauthorized("the token names no user")
        return username

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},
            )
        except jwt.InvalidTokenError:
            raise Unauthorized("the token is invalid") from None
