"""
Tests for L{harper.database.relstorage}: C{postgresql:} URIs and the conformance suite over
RelStorage on PostgreSQL (see L{tests.storage.postgres} for where the server comes from).
"""

from __future__ import annotations

import logging
import socket
import tempfile

import ZODB
from ZODB.interfaces import IStorageUndoable
from twisted.trial.unittest import TestCase

from harper.components.config_storage import STORAGE_SCHEMES
from harper.database.relstorage import open_postgresql_storage, postgresql_dsn
from harper.database.storage import open_database
from harper.errors import StartupError
from tests.storage.conformance import SharedStorageMixin, StorageConformanceMixin
from tests.storage.postgres import NoPostgreSQL, postgres_uri


class DSNTests(TestCase):
    """
    L{postgresql_dsn} and the configuration's check of C{postgresql:} URIs.
    """

    def test_dsn(self) -> None:
        """
        Every part of the URI becomes a quoted libpq setting; absent parts are left out, and
        query settings are passed on.
        """
        cases = {
            "postgresql://harper@127.0.0.1:5433/harper_test":
                "host='127.0.0.1' port='5433' user='harper' dbname='harper_test'",
            "postgres://u:p%27w%5C@db/h?sslmode=require":
                "host='db' user='u' password='p\\'w\\\\' dbname='h' sslmode='require'",
            "postgresql:///harper": "dbname='harper'",
        }
        for uri, expected in cases.items():
            self.assertEqual(postgresql_dsn(uri), expected, uri)

    def test_bad_uris(self) -> None:
        """
        Each malformed URI is refused with a sentence naming it, through the configuration's
        registered check too.
        """
        for uri in (
            "postgresql:harper",
            "postgresql://db:5432",
            "postgresql://db:5432/",
            "postgresql://db/a/b",
            "postgresql://db:port/h",
            "postgresql://db/h?sslmode",
        ):
            error = self.assertRaises(ValueError, postgresql_dsn, uri)
            self.assertIn(repr(uri), str(error))
            self.assertEqual(STORAGE_SCHEMES.check(uri), [str(error)])
        self.assertEqual(STORAGE_SCHEMES.check("postgres://u@db/h"), [])

    def test_unreachable_server(self) -> None:
        """
        A server that refuses the connection stops the start with a clear message that does
        not show the password.
        """
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        uri = f"postgresql://harper:secret@127.0.0.1:{port}/harper"
        self.patch(logging.getLogger("relstorage.adapters.postgresql.connmanager"), "disabled", True)
        error = self.assertRaises(StartupError, open_database, uri, tempfile.gettempdir())
        shown = f"postgresql://harper:***@127.0.0.1:{port}/harper"
        self.assertIn(f"cannot open PostgreSQL database {shown}", str(error))
        self.assertNotIn("secret", str(error))


class PostgreSQLConformanceTests(StorageConformanceMixin, SharedStorageMixin, TestCase):
    """
    The database layer over history-free RelStorage; each test starts from an emptied
    database, and the peer is a second RelStorage over the same database.
    """

    def setUp(self) -> None:
        try:
            self.uri = postgres_uri()
        except NoPostgreSQL as error:
            self.fail(str(error))
        super().setUp()

    def open_db(self) -> ZODB.DB:
        storage = open_postgresql_storage(self.uri, tempfile.gettempdir())
        storage.zap_all(slow=False)
        return ZODB.DB(storage, pool_size=5)

    def open_peer_db(self) -> ZODB.DB:
        return open_database(self.uri, tempfile.gettempdir(), pool_size=5)

    def test_history_free(self) -> None:
        """
        The storage keeps no history and says that reads block.
        """
        storage = self.runner.db.storage
        self.assertFalse(IStorageUndoable.providedBy(storage))
        self.assertTrue(storage.blocking_reads)
