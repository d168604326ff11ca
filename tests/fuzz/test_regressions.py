"""
Inputs the fuzzers found that once made a parser raise something other than its own errors
(a 500 instead of a 400), replayed through the same targets, plus the error the client now
gets.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.errors import InvalidInput
from harper.http.encoding import decode_body
from tests.fuzz.targets import TARGETS

#: (target, input) pairs; the first byte of a body input selects its content type.
FOUND = [
    # atheris: a MessagePack map whose key is an array of maps (TypeError: unhashable type).
    ("body", bytes.fromhex("8181818181818181818181810100000000000000") + b"\x81" * 18 + b"\n\xe3"),
    ("operations", bytes.fromhex("8181818181818181818181810100000000000000") + b"\x81" * 18 + b"\n\xe3"),
    # atheris: a MessagePack array holding a map with a map as its key.
    ("body", b"\x90\x8f\x8f\x89" + b"p" * 81),
]


class FoundInputTests(TestCase):
    """
    Every input a fuzzer found stays fixed.
    """

    def test_targets(self) -> None:
        """
        Each found input passes through its target (only the parser's own errors).
        """
        for name, data in FOUND:
            TARGETS[name](data)

    def test_msgpack_map_key(self) -> None:
        """
        A MessagePack map whose key is itself a map is refused as invalid input (a 400).
        """
        error = self.assertRaises(InvalidInput, decode_body, "application/x-msgpack", b"\x81\x81\x01\x02\x03")
        self.assertIn("not valid MessagePack", error.message)
