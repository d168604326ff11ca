# -*- test-case-name: tests.replication.test_wire -*-
"""
The replication protocol's messages and their encoding (no I/O).

A peer that wants a node's changes opens a WebSocket to it and sends L{Subscribe}; the node
answers with L{Entries} (its log from the first entry the subscriber lacks), or, when the
subscriber needs one, a base copy (L{CopyChunk}s then L{CopyDone}) followed by L{Entries}. The
subscriber confirms what it applied with L{Ack} and L{CopyAck}; the node sends L{Refused}
before closing a subscription it will not serve.

Each message is one binary WebSocket frame holding a CBOR array: a type name, then the
fields. CBOR keeps the types records hold (dates, big integers, decimals, bytes) intact.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Mapping, Union

import attr
import cbor2

from harper.errors import InvalidInput
from harper.replication.entries import Change, CopiedRecord, LogEntry, Version


#: The WebSocket handshake header in which each side names its node.
NODE_HEADER = "x-harper-node"


class ProtocolError(InvalidInput):
    """
    A frame that is not a well-formed replication message.
    """


@attr.frozen
class Subscribe:
    """
    Ask for a node's changes.

    :ivar node: the subscriber's name.
    :ivar url: where the subscriber can be reached, or C{None}.
    :ivar vector: per origin, the highest origin seq the subscriber holds.
    :ivar databases: C{"*"} or the names of the databases wanted.
    """

    node: str
    url: Union[str, None]
    vector: Mapping[str, int]
    databases: Union[str, tuple[str, ...]] = "*"


@attr.frozen
class Entries:
    """
    Log entries, in order.

    :ivar head: the sender's newest C{seq}.
    :ivar through: the sender's log was read through this C{seq} (entries the subscriber does
        not need are left out).
    :ivar entries: the entries.
    """

    head: int
    through: int
    entries: tuple[LogEntry, ...]


@attr.frozen
class Ack:
    """
    The subscriber applied the sender's log through C{through}.
    """

    through: int


@attr.frozen
class CopyChunk:
    """
    Part C{number} (from 1) of a base copy.
    """

    number: int
    records: tuple[CopiedRecord, ...]


@attr.frozen
class CopyDone:
    """
    The base copy is complete: its data holds every entry of C{vector}; the log continues
    after C{through}.
    """

    vector: Mapping[str, int]
    through: int


@attr.frozen
class CopyAck:
    """
    The subscriber applied base copy part C{number}.
    """

    number: int


@attr.frozen
class Refused:
    """
    The node will not serve the subscription, for C{reason}.
    """

    reason: str


Message = Union[Subscribe, Entries, Ack, CopyChunk, CopyDone, CopyAck, Refused]


# -- checks of decoded values ------------------------------------------------------------


def _expect(check: Callable[[Any], bool], what: str) -> Callable[[Any, str], Any]:
    def checked(value: Any, field: str) -> Any:
        if not check(value):
            raise ProtocolError(f"{field}: expected {what}, got {type(value).__name__}")
        return value

    return checked


_text = _expect(lambda v: isinstance(v, str), "text")
_optional_text = _expect(lambda v: v is None or isinstance(v, str), "text or null")
_count = _expect(
    lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a non-negative integer"
)
_number = _expect(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number")
_array = _expect(lambda v: isinstance(v, list), "an array")
_map = _expect(lambda v: isinstance(v, dict), "a map")
_optional_map = _expect(lambda v: v is None or isinstance(v, dict), "a map or null")


def _fields(value: Any, field: str, count: int) -> list:
    _array(value, field)
    if len(value) != count:
        raise ProtocolError(f"{field}: expected {count} fields, got {len(value)}")
    return value


def _vector(value: Any, field: str) -> dict[str, int]:
    return {
        _text(key, f"{field} key"): _count(seq, f"{field}[{key!r}]")
        for key, seq in _map(value, field).items()
    }


def _version(value: Any, field: str) -> Version:
    timestamp, node = _fields(value, field, 2)
    return (float(_number(timestamp, f"{field} timestamp")), _text(node, f"{field} node"))


def _change(value: Any, field: str) -> Change:
    database, table, id, type, record, patched, user = _fields(value, field, 7)
    if patched is not None:
        names = _array(patched, f"{field} patched")
        patched = tuple(_text(name, f"{field} patched") for name in names)
    if type not in ("put", "patch", "delete", "message"):
        raise ProtocolError(f"{field}: unknown change type {type!r}")
    if type in ("put", "patch"):
        _map(record, f"{field} value")
    return Change(_text(database, f"{field} database"), _text(table, f"{field} table"), id, type,
                  record, patched, _optional_text(user, f"{field} user"))


def _entry(value: Any, field: str) -> LogEntry:
    seq, origin, origin_seq, timestamp, changes = _fields(value, field, 5)
    return LogEntry(
        _count(seq, f"{field} seq"),
        _text(origin, f"{field} origin"),
        _count(origin_seq, f"{field} origin seq"),
        float(_number(timestamp, f"{field} timestamp")),
        tuple(_change(c, f"{field} change") for c in _array(changes, f"{field} changes")),
    )


def _copied(value: Any, field: str) -> CopiedRecord:
    database, table, id, record, base, stamps = _fields(value, field, 6)
    stamps = _optional_map(stamps, f"{field} stamps") or {}
    return CopiedRecord(
        _text(database, f"{field} database"), _text(table, f"{field} table"), id,
        _optional_map(record, f"{field} value"), _version(base, f"{field} base"),
        {_text(k, f"{field} stamp"): _version(v, f"{field} stamp") for k, v in stamps.items()},
    )


def _databases(value: Any, field: str) -> Union[str, tuple[str, ...]]:
    if value == "*":
        return value
    return tuple(_text(name, field) for name in _array(value, field))


# -- encoding ----------------------------------------------------------------------------


def _entry_fields(entry: LogEntry) -> list:
    changes = [list(change.to_tuple()) for change in entry.changes]
    return [entry.seq, entry.origin, entry.origin_seq, entry.timestamp, changes]


def _databases_field(databases: Union[str, tuple[str, ...]]) -> Any:
    return databases if databases == "*" else list(databases)


def _copied_fields(record: CopiedRecord) -> list:
    return [record.database, record.table, record.id, record.value, list(record.base),
            {name: list(stamp) for name, stamp in record.stamps.items()}]


_ENCODERS: dict[type, tuple[str, Callable[[Any], list]]] = {
    Subscribe: (
        "subscribe", lambda m: [m.node, m.url, dict(m.vector), _databases_field(m.databases)]
    ),
    Entries: ("entries", lambda m: [m.head, m.through, [_entry_fields(e) for e in m.entries]]),
    Ack: ("ack", lambda m: [m.through]),
    CopyChunk: ("copy", lambda m: [m.number, [_copied_fields(r) for r in m.records]]),
    CopyDone: ("copied", lambda m: [dict(m.vector), m.through]),
    CopyAck: ("copy-ack", lambda m: [m.number]),
    Refused: ("refused", lambda m: [m.reason]),
}

_DECODERS: dict[str, tuple[int, Callable[[list], Message]]] = {
    "subscribe": (4, lambda f: Subscribe(_text(f[0], "node"), _optional_text(f[1], "url"),
                                         _vector(f[2], "vector"), _databases(f[3], "databases"))),
    "entries": (3, lambda f: Entries(_count(f[0], "head"), _count(f[1], "through"),
                                     tuple(_entry(e, "entry") for e in _array(f[2], "entries")))),
    "ack": (1, lambda f: Ack(_count(f[0], "through"))),
    "copy": (2, lambda f: CopyChunk(_count(f[0], "number"),
                                    tuple(_copied(r, "record") for r in _array(f[1], "records")))),
    "copied": (2, lambda f: CopyDone(_vector(f[0], "vector"), _count(f[1], "through"))),
    "copy-ack": (1, lambda f: CopyAck(_count(f[0], "number"))),
    "refused": (1, lambda f: Refused(_text(f[0], "reason"))),
}


def encode(message: Message) -> bytes:
    """
    The frame payload of C{message}.
    """
    name, fields = _ENCODERS[type(message)]
    return cbor2.dumps([name, *fields(message)], timezone=datetime.timezone.utc)


def decode(payload: bytes) -> Message:
    """
    The message in a frame payload.

    :raises ProtocolError: when C{payload} is not a well-formed message.
    """
    try:
        frame = cbor2.loads(payload)
    except Exception as error:
        raise ProtocolError(f"not a CBOR frame: {error}") from None
    if not isinstance(frame, list) or not frame or not isinstance(frame[0], str):
        raise ProtocolError("a frame must be an array starting with the message type")
    known = _DECODERS.get(frame[0])
    if known is None:
        raise ProtocolError(f"unknown message type {frame[0]!r}")
    count, build = known
    return build(_fields(frame[1:], frame[0], count))
