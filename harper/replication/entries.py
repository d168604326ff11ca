# -*- test-case-name: tests.replication.test_wire -*-
"""
What replicates: one L{LogEntry} per committed transaction, holding its L{Change}s, the node
that made it and that node's hybrid-logical-clock timestamp.

These are plain values shared by the change log (which stores them as tuples), the wire codec
and the code that applies them on another node.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from harper.database.events import ChangeEvent

#: A version of a record: (timestamp in epoch ms, name of the node that wrote it). Versions
#: compare as tuples, so equal timestamps are ordered by node name.
Version = tuple[float, str]

#: Older than any write.
NEVER: Version = (0.0, "")


@attr.frozen
class Change:
    """
    One change of a replicated transaction.

    :ivar database: database name.
    :ivar table: table name.
    :ivar id: primary key of the record (or the topic id of a message).
    :ivar type: C{"put"}, C{"patch"}, C{"delete"} or C{"message"}.
    :ivar value: the whole record after the change (the message for C{"message"}; C{None} for
        C{"delete"}).
    :ivar patched: for C{"patch"}, the attributes the patch set (managed update times
        included).
    :ivar user: who made the change, if known.
    """

    database: str
    table: str
    id: Any
    type: str
    value: Any
    patched: Optional[tuple[str, ...]] = None
    user: Optional[str] = None

    @classmethod
    def from_event(cls, event: ChangeEvent, patched: Optional[tuple[str, ...]] = None) -> "Change":
        """
        The change a local L{ChangeEvent} describes (with C{patched} for patches).
        """
        return cls(
            event.database, event.table, event.id, event.type, event.value, patched, event.user
        )

    def to_tuple(self) -> tuple:
        """
        The compact form stored in the log and sent on the wire.
        """
        return (self.database, self.table, self.id, self.type, self.value, self.patched, self.user)

    @classmethod
    def from_tuple(cls, fields: Any) -> "Change":
        """
        The inverse of L{to_tuple}.
        """
        database, table, id, type, value, patched, user = fields
        names = tuple(patched) if patched is not None else None
        return cls(database, table, id, type, value, names, user)


@attr.frozen
class LogEntry:
    """
    One committed transaction in a node's change log.

    :ivar seq: its position in the log of the node that holds it (the sender's log on the
        wire).
    :ivar origin: the node where the transaction was made.
    :ivar origin_seq: its position in the origin's log; each origin's entries are applied in
        this order, exactly once.
    :ivar timestamp: the origin's transaction timestamp (epoch ms, hybrid logical clock).
    :ivar changes: the changes, applied together or not at all.
    """

    seq: int
    origin: str
    origin_seq: int
    timestamp: float
    changes: tuple[Change, ...]

    @property
    def version(self) -> Version:
        """
        The version every change of this entry writes.
        """
        return (self.timestamp, self.origin)

    def stored(self) -> tuple:
        """
        The form kept in the log (without C{seq}, the log's key).
        """
        changes = tuple(change.to_tuple() for change in self.changes)
        return (self.origin, self.origin_seq, self.timestamp, changes)

    @classmethod
    def from_stored(cls, seq: int, stored: Any) -> "LogEntry":
        """
        The inverse of L{stored}.
        """
        origin, origin_seq, timestamp, changes = stored
        return cls(seq, origin, origin_seq, timestamp, tuple(Change.from_tuple(c) for c in changes))


@attr.frozen
class CopiedRecord:
    """
    One record (or tombstone) of a base copy, with its versions.

    :ivar database: database name.
    :ivar table: table name.
    :ivar id: primary key.
    :ivar value: the record, or C{None} for a tombstone.
    :ivar base: the version of its last whole write (or of the delete).
    :ivar stamps: attribute name to the version of a later patch that set it.
    """

    database: str
    table: str
    id: Any
    value: Optional[dict]
    base: Version
    stamps: dict = attr.Factory(dict)
