"""
Shared test fixtures: real ZODB storages in temporary folders and a transaction runner over
them.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from harper.database.events import ChangeFeed
from harper.database.migrate import migrate
from harper.database.storage import open_database
from harper.database.table import Table
from harper.database.transaction import TransactionRunner
from harper.schema.model import AttributeDefinition, TableDefinition, TypeRef


def attribute(
    name: str, type_name: str = "String", *, type: TypeRef | None = None, **options: Any
) -> AttributeDefinition:
    """
    An attribute definition, scalar unless C{type} is given.
    """
    return AttributeDefinition(name=name, type=type or TypeRef(type_name), **options)


def runner_over(case: TestCase, db: Any, threads: int = 4) -> TransactionRunner:
    """
    A L{TransactionRunner} over C{db} with its own thread pool; the pool, the runner's
    connections and C{db} are closed when the test ends.
    """
    pool = ThreadPool(minthreads=1, maxthreads=threads, name="test-db")
    pool.start()
    runner = TransactionRunner(db, reactor, pool, ChangeFeed())

    def close() -> None:
        pool.stop()
        runner.close()
        db.close()

    case.addCleanup(close)
    return runner


def file_runner(case: TestCase, threads: int = 4) -> TransactionRunner:
    """
    A L{TransactionRunner} over a new FileStorage in a temporary folder.
    """
    root = case.mktemp()
    os.makedirs(root)
    return runner_over(case, open_database("file:", root, pool_size=threads + 4), threads)


def dog_definition(**options: Any) -> TableDefinition:
    """
    A Dog table: integer key, indexed name and breed, unindexed age.
    """
    return TableDefinition(
        type_name="Dog",
        name="Dog",
        attributes=(
            attribute("id", "Int", primary_key=True),
            attribute("name", indexed=True),
            attribute("breed", indexed=True),
            attribute("age", "Int"),
            attribute("tags", indexed=True, type=TypeRef(None, item=TypeRef("String"))),
        ),
        **options,
    )


def create_tables(runner: TransactionRunner, *definitions: TableDefinition) -> list[Table]:
    """
    Create tables for C{definitions} and return them.
    """
    tables = [Table(definition) for definition in definitions]
    runner.run_blocking(lambda txn: migrate(txn, tables))
    return tables
