"""
Tests for L{harper.analytics.recorder}: per-request recording and the periodic flush.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from harper.analytics.recorder import ANALYTICS_TABLE, Analytics, Measure
from tests.helpers import create_tables, file_runner


class MeasureTests(SynchronousTestCase):
    """
    L{Measure} keeps counts and a latency histogram.
    """

    def test_summary(self) -> None:
        """
        Count, mean, minimum and maximum are exact; percentiles are within the bucket width
        (20%) of the true ones.
        """
        measure = Measure()
        for value in range(1, 101):
            measure.add(float(value))
        summary = measure.summary()
        self.assertEqual((summary["count"], summary["mean"], summary["min"], summary["max"]), (100, 50.5, 1.0, 100.0))
        for name, expected in (("median", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
            self.assertTrue(expected <= summary[name] <= expected * 1.2, (name, summary[name]))

    def test_single_and_extremes(self) -> None:
        """
        One value is every percentile; values beyond the last bucket are kept by the maximum.
        """
        measure = Measure()
        measure.add(7.0)
        self.assertEqual(measure.percentile(0.5), 7.0)
        measure.add(1e9)
        self.assertEqual(measure.percentile(0.99), 1e9)


class _Resource:
    def __init__(self, name: str) -> None:
        self.export_name = name


class FlushTests(TestCase):
    """
    L{Analytics} writes one record per resource and method each period.
    """

    def setUp(self) -> None:
        self.runner = file_runner(self)
        self.table = create_tables(self.runner, ANALYTICS_TABLE)[0]
        self.clock = Clock()
        self.clock.advance(1000)
        self.analytics = Analytics(self.runner, self.clock, self.runner.feed, period=60)

    def stored(self) -> list[dict]:
        return self.runner.run_blocking(lambda txn: sorted((e.value for e in self.table.scan(txn)),
                                                           key=lambda r: (r["time"], r["path"], r["method"])))

    async def test_flush(self) -> None:
        """
        Requests recorded in a period become records of their period, with their counts.
        """
        dogs, cats = _Resource("Dog"), _Resource("Cat")
        for value in (1.0, 2.0, 3.0):
            self.analytics.record(dogs, b"GET", value)
        self.analytics.record(dogs, b"PUT", 5.0)
        self.analytics.record(cats, "GET", 4.0)
        self.clock.advance(30)
        self.assertEqual(await self.analytics.flush(), 3)
        records = self.stored()
        self.assertEqual([(r["path"], r["method"], r["count"]) for r in records],
                         [("Cat", "GET", 1), ("Dog", "GET", 3), ("Dog", "PUT", 1)])
        self.assertEqual({(r["metric"], r["time"], r["period"]) for r in records}, {("duration", 1000000.0, 30)})
        self.assertEqual(records[1]["mean"], 2.0)
        self.assertEqual(await self.analytics.flush(), 0)

    async def test_retention(self) -> None:
        """
        A flush removes the records older than the retention.
        """
        analytics = Analytics(self.runner, self.clock, self.runner.feed, period=60, retention=3600)
        dogs = _Resource("Dog")
        for advance, method in ((60, b"GET"), (30, b"GET")):
            analytics.record(dogs, method, 1.0)
            self.clock.advance(advance)
            await analytics.flush()
        self.assertEqual([r["time"] for r in self.stored()], [1000000.0, 1060000.0])
        analytics.record(dogs, b"PUT", 1.0)
        self.clock.advance(3540)
        await analytics.flush()
        self.assertEqual([(r["time"], r["method"]) for r in self.stored()],
                         [(1060000.0, "GET"), (1090000.0, "PUT")])

    def test_stop_writes_the_last_period(self) -> None:
        """
        Stopping writes what the current period recorded.
        """
        self.analytics.record(_Resource("Dog"), b"GET", 1.0)
        self.analytics.stop()
        self.assertEqual([(r["path"], r["count"]) for r in self.stored()], [("Dog", 1)])

    async def test_periodic(self) -> None:
        """
        Once started, a flush runs every period; stopping ends them.
        """
        self.analytics.start()
        self.addCleanup(self.analytics.stop)
        self.analytics.record(_Resource("Dog"), b"GET", 1.0)
        self.clock.advance(59)
        self.assertEqual(self.stored(), [])
        self.clock.advance(1)
        for _ in range(100):
            if self.stored():
                break
            await deferLater(reactor, 0.05)
        self.assertEqual([r["count"] for r in self.stored()], [1])
