# -*- test-case-name: tests.auth.test_passwords -*-
"""
Password hashing with argon2id.

Hashes are self-describing PHC strings (C{$argon2id$v=19$m=...}), so the cost parameters can
change without invalidating stored passwords. Checking a password against no stored hash
still does the work of one verification, so the time a failed login takes does not tell
whether the user exists.
"""

from __future__ import annotations

from typing import Optional

import argon2
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordHashing:
    """
    Hashes and checks passwords.

    :param time_cost: argon2 iterations.
    :param memory_cost: argon2 memory in KiB.
    :param parallelism: argon2 lanes.

    The defaults are argon2-cffi's (RFC 9106 low-memory profile); tests pass smaller costs.
    """

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._decoy: Optional[str] = None

    def hash(self, password: str) -> str:
        """
        A new salted argon2id hash of C{password}.
        """
        return self._hasher.hash(password)

    def verify(self, stored: Optional[str], password: str) -> bool:
        """
        Whether C{password} matches the C{stored} hash. With C{stored} C{None} (no such user)
        the answer is C{False} after the same amount of work.
        """
        if stored is None:
            if self._decoy is None:
                self._decoy = self.hash("decoy password, never accepted")
            self._verify(self._decoy, password)
            return False
        return self._verify(stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
