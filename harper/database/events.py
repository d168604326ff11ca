# -*- test-case-name: tests.database.test_transaction -*-
"""
Change events: what committed transactions changed, delivered to in-process listeners.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import attr
from twisted.logger import Logger

#: Event types, as in Harper's subscription events.
PUT = "put"
PATCH = "patch"
DELETE = "delete"
MESSAGE = "message"


@attr.frozen
class ChangeEvent:
    """
    One change to one record (or one published message) in a committed transaction.

    :ivar database: database name.
    :ivar table: table name.
    :ivar id: primary key of the record.
    :ivar type: L{PUT}, L{PATCH}, L{DELETE} or L{MESSAGE}.
    :ivar value: the record after the change (the message for L{MESSAGE}; C{None} for
        L{DELETE}).
    :ivar timestamp: the transaction's timestamp in epoch milliseconds.
    :ivar user: name of the user who made the change, if known.
    :ivar patched: for L{PATCH}, the names of the attributes the patch set (C{None} when not
        known); replication merges patches attribute by attribute with it.
    :ivar original: the record before the change (C{None} when it did not exist, or for
        L{MESSAGE}); kept by the audit log.
    """

    database: str
    table: str
    id: Any
    type: str
    value: Any
    timestamp: float
    user: Optional[str] = None
    patched: Optional[tuple[str, ...]] = None
    original: Any = attr.field(default=None, eq=False, repr=False)


ChangeListener = Callable[[ChangeEvent], None]


class ChangeFeed:
    """
    Fans committed change events out to listeners, in commit order, on the reactor thread.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    def listen(self, listener: ChangeListener) -> Callable[[], None]:
        """
        Call C{listener(event)} for every change from now on; return a function that stops it.
        """
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def emit(self, events: Iterable[ChangeEvent]) -> None:
        """
        Deliver C{events}; a failing listener is logged and does not stop the others.
        """
        for event in events:
            for listener in tuple(self._listeners):
                try:
                    listener(event)
                except Exception:
                    self._log.failure("change listener {listener!r} failed", listener=listener)
