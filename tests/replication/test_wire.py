"""
Tests for L{harper.replication.wire}: every message survives encoding, and malformed frames
are refused with a message that names the problem.
"""

from __future__ import annotations

import datetime
import decimal

import cbor2
from twisted.trial.unittest import TestCase

from harper.errors import InvalidInput
from harper.replication.entries import Change, CopiedRecord, LogEntry
from harper.replication.wire import (
    Ack, CopyAck, CopyChunk, CopyDone, Entries, ProtocolError, Refused, Subscribe, decode, encode,
)

RECORD = {
    "id": 7,
    "name": "Rex",
    "born": datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    "weight": decimal.Decimal("12.5"),
    "chip": b"\x00\x01",
    "big": 2**70,
    "tags": ["a", "b"],
}


class RoundTripTests(TestCase):
    """
    C{decode(encode(m)) == m} for each message type.
    """

    def assertRoundTrip(self, message) -> None:
        self.assertEqual(decode(encode(message)), message)

    def test_subscribe(self) -> None:
        """
        Subscriptions keep the vector and the databases (C{"*"} or names).
        """
        self.assertRoundTrip(Subscribe("node-b", "ws://b:9933", {"node-a": 3, "node-c": 0}, "*"))
        self.assertRoundTrip(Subscribe("node-b", None, {}, ("data", "other")))

    def test_entries_keep_value_types(self) -> None:
        """
        Entries keep every change field and the types records hold (dates, decimals, bytes,
        big integers).
        """
        changes = (
            Change("data", "Dog", 7, "put", RECORD, None, "ann"),
            Change("data", "Dog", 7, "patch", RECORD, ("name", "updated")),
            Change("data", "Dog", "x", "delete", None),
            Change("data", "Dog", "x", "message", ["any", {"thing": 1}]),
        )
        self.assertRoundTrip(
            Entries(12, 14, (LogEntry(12, "node-a", 5, 1700000000000.125, changes),)),
        )

    def test_confirmations_and_refusal(self) -> None:
        """
        Acks, copy acks, copy completion and refusals.
        """
        for message in (Ack(5), CopyAck(2), CopyDone({"a": 1}, 9), Refused("no")):
            self.assertRoundTrip(message)

    def test_copy_chunk(self) -> None:
        """
        Copied records keep their value (or tombstone) and versions.
        """
        self.assertRoundTrip(CopyChunk(1, (
            CopiedRecord("data", "Dog", 7, RECORD, (1.5, "node-a"), {"name": (2.5, "node-b")}),
            CopiedRecord("data", "Dog", 8, None, (3.0, "node-a")),
        )))


class MalformedTests(TestCase):
    """
    Frames that are not messages raise L{ProtocolError} saying what is wrong.
    """

    def assertRefused(self, payload: bytes, words: str) -> None:
        error = self.assertRaises(ProtocolError, decode, payload)
        self.assertIn(words, error.message)

    def test_not_cbor(self) -> None:
        """
        Bytes that are not CBOR.
        """
        self.assertRefused(b"\xff\xff", "not a CBOR frame")

    def test_not_a_message(self) -> None:
        """
        CBOR that is not an array led by a type, or names an unknown type.
        """
        self.assertRefused(cbor2.dumps({"t": 1}), "array starting with the message type")
        self.assertRefused(cbor2.dumps(["hello"]), "unknown message type 'hello'")

    def test_wrong_field_count(self) -> None:
        """
        A message with too few fields.
        """
        self.assertRefused(cbor2.dumps(["ack"]), "ack: expected 1 fields, got 0")

    def test_wrong_field_types(self) -> None:
        """
        Fields of the wrong type are named.
        """
        self.assertRefused(cbor2.dumps(["ack", -1]), "through: expected a non-negative integer")
        self.assertRefused(
            cbor2.dumps(["subscribe", 1, None, {}, "*"]),
            "node: expected text, got int",
        )
        self.assertRefused(cbor2.dumps(["subscribe", "n", None, {"a": "x"}, "*"]), "vector['a']")
        entry = [1, "a", 1, 1.0, [["data", "Dog", 1, "explode", None, None, None]]]
        self.assertRefused(cbor2.dumps(["entries", 1, 1, [entry]]), "unknown change type 'explode'")
        entry = [1, "a", 1, 1.0, [["data", "Dog", 1, "put", "not a map", None, None]]]
        self.assertRefused(
            cbor2.dumps(["entries", 1, 1, [entry]]),
            "entry change value: expected a map",
        )

    def test_protocol_error_is_invalid_input(self) -> None:
        """
        Protocol errors are client errors.
        """
        self.assertTrue(issubclass(ProtocolError, InvalidInput))
