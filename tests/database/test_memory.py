"""
Tests for the bound on memory under writes: the ZODB object caches of the database
connections (L{harper.database.storage.open_database} and the C{storage.cacheSize} and
C{storage.cacheSizeBytes} keys) stay bounded while the writer commits, although every commit
writes new objects (audit entries) that the writing connection would otherwise keep.
"""

from __future__ import annotations

import os

from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.database.audit import AuditLog
from harper.database.groupcommit import GroupCommitter
from harper.database.storage import DEFAULT_CACHE_SIZE, DEFAULT_CACHE_SIZE_BYTES, open_database
from harper.errors import ConfigError
from tests.components.test_loader import start_runtime
from tests.helpers import create_tables, dog_definition, runner_over

#: The byte bound of the caches in the write test: far below what the writes store.
BOUND = 64 * 1024


class WriterCacheTests(TestCase):
    """
    Writes through the writer thread (group commit, with the audit log as a commit step) over
    a FileStorage whose caches are bounded by bytes.
    """

    def setUp(self) -> None:
        root = self.mktemp()
        os.makedirs(root)
        self.db = open_database("file:", root, cache_size_bytes=BOUND, pool_size=8)
        self.runner = runner_over(self, self.db)
        [self.dogs] = create_tables(self.runner, dog_definition())
        self.addCleanup(self.runner.add_commit_step(AuditLog()))
        self.writer = GroupCommitter(self.runner)
        self.writer.start()
        self.addCleanup(self.writer.stop)

    def put(self, key: int, round_: int):
        """
        Queue a write of dog C{key} for the writer; remember the connection it wrote through.
        """

        def work(txn):
            self.writer_connection = txn.connection
            self.dogs.put(txn, {"id": key, "name": f"dog {key} round {round_}", "age": round_})

        return self.writer.submit(work)

    @inlineCallbacks
    def test_writer_cache_stays_bounded(self):
        """
        Under 3,000 writes in groups of 100 (each group a commit with its own audit entry
        holding every record before and after), the estimated size of the writer's cache never
        passes the bound after a commit, while the storage grows by many times the bound: an
        unbounded cache (the default byte bound of 0 in ZODB) keeps all of it.
        """
        size_before = self.db.storage.getSize()
        sizes = []
        for round_ in range(30):
            keys = range(round_ * 7, round_ * 7 + 100)
            yield gatherResults([self.put(key, round_) for key in keys])
            sizes.append(self.writer_connection._cache.total_estimated_size)
        written = self.db.storage.getSize() - size_before
        self.assertGreater(written, 10 * BOUND)
        self.assertLessEqual(max(sizes), BOUND)
        latest = self.runner.read(lambda txn: self.dogs.entry(txn, 302).value["name"])
        self.assertEqual(latest, "dog 302 round 29")


class ConfiguredBoundsTests(TestCase):
    """
    The runtime opens its database with the cache bounds of C{storage}.
    """

    def runtime(self, storage: str):
        root = os.path.abspath(self.mktemp())
        config = config_from_string(
            f"rootPath: {root!r}\nstorage: {{uri: 'file:'{storage}}}\napplications: []\n",
            "harper.yaml", base_dir=root, environ={},
        )
        return start_runtime(self, config)

    def test_defaults(self) -> None:
        """
        Without the keys, each connection keeps at most 100,000 objects and 8 MiB of them.
        """
        db = self.runtime("").db
        defaults = (DEFAULT_CACHE_SIZE, DEFAULT_CACHE_SIZE_BYTES)
        self.assertEqual((db.getCacheSize(), db.getCacheSizeBytes()), defaults)
        self.assertEqual(defaults, (100_000, 8 * 1024 * 1024))

    def test_configured(self) -> None:
        """
        C{storage.cacheSize} and C{storage.cacheSizeBytes} reach the database.
        """
        db = self.runtime(", cacheSize: 5000, cacheSizeBytes: 1048576").db
        self.assertEqual((db.getCacheSize(), db.getCacheSizeBytes()), (5000, 1048576))

    def test_invalid(self) -> None:
        """
        A negative byte bound or a cache of no objects is a configuration error.
        """
        root = os.path.abspath(self.mktemp())
        error = self.assertRaises(
            ConfigError, config_from_string, "storage: {cacheSize: 0, cacheSizeBytes: -1}\n",
            "harper.yaml", base_dir=root, environ={},
        )
        self.assertEqual(
            [problem.split(":")[1].strip() for problem in error.problems],
            ["storage.cacheSize", "storage.cacheSizeBytes"],
        )
