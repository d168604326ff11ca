"""
Tests for L{harper.auth.passwords}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from harper.auth.passwords import PasswordHashing


class PasswordHashingTests(SynchronousTestCase):
    """
    argon2id hashing and checking.
    """

    def setUp(self) -> None:
        self.passwords = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)

    def test_argon2id(self) -> None:
        """
        Hashes are salted argon2id PHC strings that never contain the password.
        """
        first, second = self.passwords.hash("secret"), self.passwords.hash("secret")
        self.assertTrue(first.startswith("$argon2id$"))
        self.assertNotEqual(first, second)
        self.assertNotIn("secret", first)

    def test_verify(self) -> None:
        """
        Only the hashed password matches.
        """
        stored = self.passwords.hash("secret")
        self.assertTrue(self.passwords.verify(stored, "secret"))
        self.assertFalse(self.passwords.verify(stored, "Secret"))
        self.assertFalse(self.passwords.verify(stored, ""))

    def test_no_stored_hash(self) -> None:
        """
        Checking against no hash (an unknown user) is C{False}, even for the decoy's text.
        """
        self.assertFalse(self.passwords.verify(None, "anything"))
        self.assertFalse(self.passwords.verify(None, "decoy password, never accepted"))

    def test_corrupt_hash(self) -> None:
        """
        A stored value that is not an argon2 hash matches nothing rather than failing.
        """
        self.assertFalse(self.passwords.verify("plain text", "plain text"))

    def test_other_costs(self) -> None:
        """
        A hash made with other cost parameters still verifies (they are in the hash).
        """
        stored = PasswordHashing(time_cost=2, memory_cost=16, parallelism=1).hash("secret")
        self.assertTrue(self.passwords.verify(stored, "secret"))
