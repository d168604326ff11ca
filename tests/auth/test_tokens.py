"""
Tests for L{harper.auth.tokens}.
"""

from __future__ import annotations

import os
import stat

import jwt
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from harper.auth.tokens import OPERATION, REFRESH, ExpiredToken, SigningKeyFile, TokenIssuer
from harper.errors import Unauthorized

KEY = b"k" * 64


class TokenIssuerTests(SynchronousTestCase):
    """
    Issuing and checking operation and refresh tokens.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.tokens = TokenIssuer(KEY, self.clock, operation_lifetime=60, refresh_lifetime=600)

    def test_round_trip(self) -> None:
        """
        A token names the user it was issued to, and is an HS256 JWT with its kind in C{sub}.
        """
        token = self.tokens.issue("ann", OPERATION)
        self.assertEqual(self.tokens.username(token, OPERATION), "ann")
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "HS256")
        claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False})
        self.assertEqual((claims["sub"], claims["exp"] - claims["iat"]), ("operation", 60))

    def test_expiry(self) -> None:
        """
        Each kind expires after its own lifetime.
        """
        operation, refresh = self.tokens.issue("ann", OPERATION), self.tokens.issue("ann", REFRESH)
        self.clock.advance(59)
        self.assertEqual(self.tokens.username(operation, OPERATION), "ann")
        self.clock.advance(1)
        error = self.assertRaises(ExpiredToken, self.tokens.username, operation, OPERATION)
        self.assertEqual(error.message, "the token has expired")
        self.assertEqual(self.tokens.username(refresh, REFRESH), "ann")
        self.clock.advance(540)
        self.assertRaises(ExpiredToken, self.tokens.username, refresh, REFRESH)

    def test_kinds_not_interchangeable(self) -> None:
        """
        A refresh token is no operation token, and the other way round.
        """
        error = self.assertRaises(Unauthorized, self.tokens.username, self.tokens.issue("ann", REFRESH), OPERATION)
        self.assertEqual(error.message, "the token is not an operation token")
        error = self.assertRaises(Unauthorized, self.tokens.username, self.tokens.issue("ann", OPERATION), REFRESH)
        self.assertEqual(error.message, "the token is not a refresh token")

    def test_forged(self) -> None:
        """
        Tokens signed with another key, with another algorithm, unsigned, or garbage are
        refused as invalid.
        """
        now = int(self.clock.seconds())
        claims = {"username": "ann", "sub": "operation", "iat": now, "exp": now + 60}
        forged = [
            jwt.encode(claims, b"x" * 32, algorithm="HS256"),
            jwt.encode(claims, KEY, algorithm="HS512"),
            jwt.encode(claims, None, algorithm="none"),
            "not.a.token",
            "",
        ]
        for token in forged:
            error = self.assertRaises(Unauthorized, self.tokens.username, token, OPERATION)
            self.assertEqual(error.message, "the token is invalid", token)

    def test_no_username(self) -> None:
        """
        A correctly signed token without a username names no user.
        """
        token = jwt.encode({"sub": "operation", "exp": int(self.clock.seconds()) + 5}, KEY, algorithm="HS256")
        self.assertEqual(self.assertRaises(Unauthorized, self.tokens.username, token, OPERATION).message,
                         "the token names no user")


class SigningKeyFileTests(SynchronousTestCase):
    """
    The signing key on disk.
    """

    def setUp(self) -> None:
        self.keys = os.path.join(self.mktemp(), "keys")
        self.file = SigningKeyFile(self.keys)

    def test_created_private(self) -> None:
        """
        The first call creates a 32-byte key readable by the owner only, in a private folder;
        later calls read the same key.
        """
        key = self.file.read_or_create()
        self.assertEqual(len(key), 32)
        self.assertEqual(stat.S_IMODE(os.stat(self.file.path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.keys).st_mode) & 0o077, 0)
        self.assertEqual(SigningKeyFile(self.keys).read_or_create(), key)

    def test_permissions_narrowed(self) -> None:
        """
        A key file others can read is narrowed to 0600.
        """
        key = self.file.read_or_create()
        os.chmod(self.file.path, 0o644)
        self.assertEqual(self.file.read_or_create(), key)
        self.assertEqual(stat.S_IMODE(os.stat(self.file.path).st_mode), 0o600)

    def test_too_short(self) -> None:
        """
        A truncated key file is refused rather than used.
        """
        self.file.read_or_create()
        with open(self.file.path, "wb") as stream:
            stream.write(b"short")
        self.assertRaises(ValueError, self.file.read_or_create)
