"""
Tests for L{harper.pubsub.payloads}.
"""

from __future__ import annotations

import datetime

from twisted.trial.unittest import TestCase

from harper.errors import InvalidInput
from harper.pubsub.payloads import (
    CBOR,
    JSON,
    MSGPACK,
    UnsupportedContentType,
    decode_payload,
    encode_payload,
    media_type,
)


class PayloadTests(TestCase):
    """
    Encoding and decoding by media type.
    """

    def test_round_trips(self) -> None:
        """
        Values survive JSON, CBOR and MessagePack.
        """
        value = {"name": "Rex", "age": 3, "tags": ["a"]}
        for kind in (JSON, CBOR, MSGPACK, "application/msgpack", "application/ld+json"):
            self.assertEqual(decode_payload(encode_payload(value, kind), kind), value)

    def test_media_type(self) -> None:
        """
        Parameters and case are ignored; nothing means JSON; other types are refused with a
        message naming the supported ones.
        """
        self.assertEqual(media_type("Application/CBOR; x=1"), CBOR)
        self.assertEqual(media_type(None), JSON)
        error = self.assertRaises(UnsupportedContentType, media_type, "text/csv")
        self.assertIn("application/json", error.message)

    def test_dates(self) -> None:
        """
        Dates are written as ISO 8601 text in JSON.
        """
        moment = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)
        self.assertEqual(encode_payload({"at": moment}), b'{"at":"2026-01-02T00:00:00+00:00"}')

    def test_invalid(self) -> None:
        """
        Bytes that are not valid in their type raise L{InvalidInput}.
        """
        for kind in (JSON, CBOR, MSGPACK):
            self.assertRaises(InvalidInput, decode_payload, b"\xc1\xff{", kind)
