# -*- test-case-name: tests.resources.test_caching -*-
"""
The periodic sweep that removes records past their expiration plus eviction time.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twisted.application.internet import TimerService
from twisted.logger import Logger

from harper.database.transaction import Transaction


def evict_expired(txn: Transaction, resources: Iterable[Any]) -> int:
    """
    Remove (silently: eviction is not a delete) every record of C{resources} whose expiry
    plus the table's eviction time has passed; return how many were removed.
    """
    removed = 0
    now = txn.timestamp
    for resource in resources:
        table = resource.table
        policy = resource.cache.policy if resource.cache is not None else None
        eviction = (policy.eviction if policy else None) or table.definition.eviction or 0.0
        expired = [
            entry.value.get(table.primary_key)
            for entry in table.scan(txn)
            if entry.expires_at is not None and entry.expires_at + eviction * 1000.0 <= now
        ]
        for key in expired:
            removed += table.evict(txn, key)
    return removed


def scan_interval(resource: Any) -> float | None:
    """
    Seconds between sweeps of a table: its policy's or schema's C{scanInterval}, else a
    quarter of its expiration, else C{None} (never expires).
    """
    policy = resource.cache.policy if resource.cache is not None else None
    definition = resource.table.definition
    interval = (policy.scan_interval if policy else None) or definition.scan_interval
    if interval:
        return interval
    expiration = (policy.expiration if policy else None) or definition.expiration
    return expiration / 4.0 if expiration else None


class ExpirationSweeper(TimerService):
    """
    Runs L{evict_expired} over the expiring tables at the shortest of their scan intervals.

    :param run: runs a unit of work in a transaction, returning a Deferred.
    :param resources: returns the table resources to sweep (read at each sweep, since a
        table becomes a cache only when code calls C{sourced_from}).
    :param interval: seconds between sweeps.
    """

    _log = Logger()

    def __init__(self, run: Callable[..., Any], resources: Callable[[], list], interval: float) -> None:
        super().__init__(interval, self._sweep)
        self._run = run
        self._resources = resources

    def _sweep(self) -> Any:
        expiring = [r for r in self._resources() if scan_interval(r) is not None]
        if not expiring:
            return None
        d = self._run(lambda txn: evict_expired(txn, expiring))
        d.addCallback(lambda removed: removed and self._log.info("evicted {n} expired records", n=removed))
        return d.addErrback(lambda failure: self._log.failure("expiration sweep failed", failure))
