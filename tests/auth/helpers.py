"""
Shared fixtures for access-control tests.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.auth.passwords import PasswordHashing
from harper.auth.system import system_tables
from harper.auth.users import Users
from harper.database.migrate import migrate
from harper.database.table import Table
from harper.database.transaction import TransactionRunner
from tests.helpers import file_runner


def fast_passwords() -> PasswordHashing:
    """
    argon2id with the smallest costs, so that tests hash in microseconds.
    """
    return PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)


def make_users(case: TestCase) -> tuple[Users, TransactionRunner, list[Table]]:
    """
    L{Users} over freshly migrated system tables in a temporary FileStorage, with the runner
    and those tables.
    """
    runner = file_runner(case, threads=2)
    tables = system_tables()
    runner.run_blocking(lambda txn: migrate(txn, tables))
    return Users(runner, tables[0], tables[1], fast_passwords()), runner, tables
