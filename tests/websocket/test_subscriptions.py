"""
Tests for L{harper.websocket.subscriptions.Subscriptions}: the current record and the live
changes of a record subscription arrive in version order, whatever order they reach it in.
"""

from __future__ import annotations

from typing import Any

import attr
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.database.events import MESSAGE, ChangeEvent
from harper.websocket.subscriptions import Subscriptions
from tests.mqtt.helpers import ADMIN, start_runtime


class RecordOrderTests(TestCase):
    """
    A change older than the current record, such as a write relayed late from another worker
    process, is not delivered after it.
    """

    @inlineCallbacks
    def setUp(self) -> Any:
        self.runtime = start_runtime(self)
        yield self.runtime.tables.Dog.put(7, {"name": "Ada"})
        self.delivered: list[ChangeEvent] = []
        subscriptions = Subscriptions(self.runtime.registry, self.runtime.caller)
        subscription = yield subscriptions.open("/Dog/7", "", ADMIN, {}, self.delivered.append)
        self.addCleanup(subscription.close)

    def test_current_carries_version(self) -> None:
        """
        The current record is delivered first, with the version of the stored record.
        """
        (current,) = self.delivered
        self.assertEqual((current.id, current.value["name"]), (7, "Ada"))
        self.assertLess(current.timestamp, self.runtime.runner.timestamp())

    def test_stale_change_dropped(self) -> None:
        """
        A change of the record at or before the version already delivered is dropped; a later
        one, a change of another record and a message are delivered.
        """
        (current,) = self.delivered
        stale = attr.evolve(current, timestamp=current.timestamp - 1)
        newer = attr.evolve(current, value={"id": 7, "name": "Ada", "age": 2}, timestamp=current.timestamp + 1)
        message = attr.evolve(current, type=MESSAGE, value={"hello": 1}, timestamp=current.timestamp)
        self.runtime.feed.emit([stale, current, newer, message])
        self.assertEqual(self.delivered, [current, newer, message])
