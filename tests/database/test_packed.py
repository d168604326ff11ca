"""
Tests for L{harper.database.packed}: records and audit entries are stored as one plain pickle
each, and what earlier versions stored (ZODB pickles of the attribute dict) still reads back
and is rewritten packed.
"""

from __future__ import annotations

import datetime
import io
import os
import pickle

import transaction
from persistent import Persistent
from twisted.trial.unittest import TestCase
from ZODB.serialize import ObjectWriter, referencesf

from harper.database.audit import AuditEntry
from harper.database.packed import PackedState
from harper.database.storage import open_database
from harper.database.store import Entry


def stored_state(obj: Persistent) -> object:
    """
    The state part of the record ZODB writes for C{obj} (its second pickle), unpickled.
    """
    unpickler = pickle.Unpickler(io.BytesIO(ObjectWriter(obj).serialize(obj)))
    unpickler.persistent_load = lambda reference: reference
    unpickler.load()  # the class
    return unpickler.load()


class PackedStateTests(TestCase):
    """
    L{PackedState} objects in a FileStorage.
    """

    def setUp(self) -> None:
        self.root = self.mktemp()
        os.makedirs(self.root)
        self.db = None
        self.addCleanup(self.close)

    def open(self):
        """
        Open the storage; return a transaction manager and a connection.
        """
        self.close()
        self.db = open_database("file:", self.root)
        manager = transaction.TransactionManager(explicit=True)
        self.connection = self.db.open(transaction_manager=manager)
        return manager, self.connection

    def close(self) -> None:
        """
        Close the storage if it is open.
        """
        if self.db is not None:
            self.connection.close()
            self.db.close()
            self.db = None

    def test_state_is_one_plain_pickle(self) -> None:
        """
        ZODB stores the state of an L{Entry} as bytes: the standard pickle of its attributes,
        with no persistent reference in the record.
        """
        manager, connection = self.open()
        value = {"id": 1, "name": "Rex", "born": datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc)}
        manager.begin()
        entry = connection.root()["entry"] = Entry(value, 1700000000000.5, None)
        manager.commit()
        state = stored_state(entry)
        self.assertIsInstance(state, bytes)
        self.assertEqual(pickle.loads(state), {"value": value, "version": 1700000000000.5, "expires_at": None})
        self.assertEqual(referencesf(ObjectWriter(entry).serialize(entry)), [])

    def test_reads_back_after_reopening(self) -> None:
        """
        A packed record and a packed audit entry read back equal from a reopened storage.
        """
        manager, connection = self.open()
        value = {"id": 2, "tags": ["a", "b"], "nested": {"k": [1, 2.5, None]}}
        manager.begin()
        root = connection.root()
        root["entry"] = Entry(value, 5.0, 99.0)
        audit = root["audit"] = AuditEntry()
        audit.append([("put", 2, value, None, "admin", None, 5.0)])
        manager.commit()
        _manager, connection = self.open()
        entry = connection.root()["entry"]
        self.assertEqual((entry.value, entry.version, entry.expires_at), (value, 5.0, 99.0))
        self.assertEqual(connection.root()["audit"].changes, [("put", 2, value, None, "admin", None, 5.0)])

    def test_earlier_format_still_loads(self) -> None:
        """
        An L{Entry} and an L{AuditEntry} stored the way earlier versions stored them (a ZODB
        pickle of the attribute dict) load; written again, they are stored packed and still
        read back.
        """
        manager, connection = self.open()
        earlier = self.patch(PackedState, "__getstate__", Persistent.__getstate__)
        manager.begin()
        root = connection.root()
        root["entry"] = Entry({"id": 3}, 1.0, None)
        audit = root["audit"] = AuditEntry()
        audit.append([("put", 3, {"id": 3}, None, None, None, 1.0)])
        manager.commit()
        self.assertIsInstance(stored_state(root["entry"]), dict)
        earlier.restore()
        manager, connection = self.open()
        entry = connection.root()["entry"]
        self.assertEqual(entry.value, {"id": 3})
        self.assertEqual(connection.root()["audit"].changes, [("put", 3, {"id": 3}, None, None, None, 1.0)])
        manager.begin()
        entry.value = {"id": 3, "name": "Max"}
        manager.commit()
        self.assertIsInstance(stored_state(entry), bytes)
        _manager, connection = self.open()
        self.assertEqual(connection.root()["entry"].value, {"id": 3, "name": "Max"})

