# -*- test-case-name: tests.analytics.test_recorder -*-
"""
Per-resource request counts and latency percentiles, aggregated per period into the table
C{system.hdb_analytics}.

A transport calls L{Analytics.record} once per answered request: that costs a dictionary
look-up, a few additions and one bisection into a fixed set of latency buckets, with no I/O.
Every period (60 seconds by default) L{Analytics.flush} turns what was recorded into one
record per metric, resource and method and writes them all in a single transaction on the
worker pool, off the reactor thread; the same transaction removes the records older than the
retention (7 days by default).
"""

from __future__ import annotations

import bisect
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harper.auth.system import system_table
from harper.database.conditions import Condition, Query
from harper.database.events import ChangeFeed
from harper.database.query import QueryExecutor
from harper.database.table import Table
from harper.database.transaction import Transaction, TransactionRunner
from harper.resources.table import TableResource
from harper.schema.model import AttributeDefinition, Schema, TypeRef

#: The metric of a request's handling time (milliseconds), as Harper names it.
DURATION = "duration"

#: The metrics harper records by itself.
BUILTIN_METRICS = (DURATION,)

#: The default aggregation period, in seconds (Harper's C{analytics.aggregatePeriod}).
DEFAULT_PERIOD = 60.0

#: How long aggregated records are kept, in seconds.
DEFAULT_RETENTION = 7 * 24 * 3600.0

#: The upper bounds (ms) of the latency buckets: 0.01 ms to about 10 minutes, each 20% wider
#: than the one before; the last bucket holds everything slower.
BOUNDS = tuple(0.01 * 1.2 ** n for n in range(100))

_FLOAT = TypeRef("Float")

ANALYTICS_TABLE = system_table(
    "hdb_analytics",
    AttributeDefinition("id", TypeRef("String"), primary_key=True),
    AttributeDefinition("metric", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("path", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("method", TypeRef("String", nullable=False)),
    AttributeDefinition("time", _FLOAT, indexed=True),
    AttributeDefinition("period", _FLOAT),
    AttributeDefinition("count", TypeRef("Int")),
    *(AttributeDefinition(name, _FLOAT) for name in ("mean", "min", "max")),
    *(AttributeDefinition(name, _FLOAT) for name in ("median", "p90", "p95", "p99")),
)


def analytics_tables() -> list[Table]:
    """
    A new L{Table} for C{system.hdb_analytics} (migrate it with the other system tables).
    """
    return [Table(ANALYTICS_TABLE)]


class Measure:
    """
    What was recorded for one metric, resource and method in the current period.

    :ivar count: how many values.
    :ivar total: their sum.
    :ivar low: the smallest.
    :ivar high: the largest.
    :ivar buckets: how many fell in each of L{BOUNDS} (plus one beyond the last).
    """

    __slots__ = ("count", "total", "low", "high", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = float("inf")
        self.high = 0.0
        self.buckets = [0] * (len(BOUNDS) + 1)

    def add(self, value: float) -> None:
        """
        Count C{value}.
        """
        self.count += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        self.buckets[bisect.bisect_left(BOUNDS, value)] += 1

    def percentile(self, fraction: float) -> float:
        """
        The value below which C{fraction} of the values lie: the upper bound of the bucket
        holding it, within the observed minimum and maximum (so exact to 20%).
        """
        wanted = fraction * self.count
        seen = 0
        for index, count in enumerate(self.buckets):
            seen += count
            if count and seen >= wanted:
                bound = BOUNDS[index] if index < len(BOUNDS) else self.high
                return min(max(bound, self.low), self.high)
        return self.high

    def summary(self) -> dict[str, Any]:
        """
        The fields of the period's record.
        """
        return {
            "count": self.count,
            "mean": self.total / self.count,
            "min": self.low,
            "max": self.high,
            "median": self.percentile(0.5),
            "p90": self.percentile(0.9),
            "p95": self.percentile(0.95),
            "p99": self.percentile(0.99),
        }


def _resource_name(resource: Any) -> str:
    table = getattr(resource, "table", None)
    if table is not None:
        return str(table.name)
    return getattr(resource, "export_name", None) or type(resource).__name__


class Analytics:
    """
    The metrics of one daemon.

    :param runner: writes the aggregated records.
    :param clock: the time source, and what schedules the periodic flush.
    :param feed: the change feed (the table's resource needs it).
    :param period: seconds per aggregated record.
    :param retention: seconds an aggregated record is kept.
    :ivar resource: the table's resource, for searching it.
    """

    _log = Logger()

    def __init__(
        self,
        runner: TransactionRunner,
        clock: IReactorTime,
        feed: ChangeFeed,
        period: float = DEFAULT_PERIOD,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        self._runner = runner
        self._clock = clock
        self.period = period
        self.retention = retention
        self.table = Table(ANALYTICS_TABLE)
        schema = Schema(tables=(ANALYTICS_TABLE,))
        self.resource = TableResource(self.table, schema, _no_relationships, feed)
        self._measures: dict[tuple[str, str, Any], Measure] = {}
        self._names: dict[int, tuple[Any, str]] = {}
        self._period_start = clock.seconds()
        self._loop: Optional[LoopingCall] = None

    def start(self) -> None:
        """
        Flush every period.
        """
        self._loop = LoopingCall(self._flush_logged)
        self._loop.clock = self._clock
        self._loop.start(self.period, now=False)

    def stop(self) -> None:
        """
        Stop flushing, and write what the current period recorded (blocking the calling
        thread: at shutdown, while the database is still open).
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        work = self._take_period()
        if work is not None:
            try:
                self._runner.run_blocking(work)
            except Exception:
                self._log.failure("writing the last analytics failed")

    def record(
        self, resource: Any, method: Any, milliseconds: float, metric: str = DURATION
    ) -> None:
        """
        Count one request to C{resource} that took C{milliseconds}.

        :param method: the request's method, as text or (HTTP) bytes.
        """
        known = self._names.get(id(resource))
        if known is None:
            # Keep the resource too, so that its id cannot be reused by another one.
            known = self._names[id(resource)] = (resource, _resource_name(resource))
        key = (metric, known[1], method)
        measure = self._measures.get(key)
        if measure is None:
            measure = self._measures[key] = Measure()
        measure.add(milliseconds)

    def _flush_logged(self) -> Deferred[Any]:
        return self.flush().addErrback(
            lambda failure: self._log.failure("writing analytics failed", failure)
        )

    def flush(self) -> Deferred[int]:
        """
        Write one record per metric, resource and method recorded since the last flush, and
        remove those past the retention, in one transaction; fire with how many were written.
        """
        work = self._take_period()
        return succeed(0) if work is None else self._runner.run(work)

    def _take_period(self) -> Optional[Callable[[Transaction], int]]:
        """
        End the current period: the unit of work that writes its records (C{None} when
        nothing was recorded), and a new period begins.
        """
        measures, self._measures = self._measures, {}
        start, now = self._period_start, self._clock.seconds()
        self._period_start = now
        if not measures:
            return None
        time = round(start * 1000.0, 3)
        records = [
            _period_record(key, measure, time, now - start) for key, measure in measures.items()
        ]
        expired = Query(Condition("time", "less_than", (now - self.retention) * 1000.0))

        def write(txn: Transaction) -> int:
            for old in list(QueryExecutor(txn, self.table, _no_relationships).run(expired)):
                self.table.delete(txn, old["id"])
            for record in records:
                self.table.put(txn, record)
            return len(records)

        return write


def _period_record(
    key: tuple[str, str, Any], measure: Measure, time: float, period: float
) -> dict[str, Any]:
    metric, path, method = key
    if isinstance(method, bytes):
        method = method.decode("ascii", "replace")
    return {
        "id": f"{time:.3f}/{metric}/{path}/{method}",
        "metric": metric,
        "path": path,
        "method": method,
        "time": time,
        "period": period,
        **measure.summary(),
    }


def _no_relationships(type_name: str) -> Table:
    raise LookupError(f"the analytics table has no relationship to {type_name}")
