"""
Tests for L{harper.operations.log_ops}: C{read_log}.
"""

from __future__ import annotations

import datetime

from twisted.logger import Logger, LogPublisher
from twisted.trial.unittest import SynchronousTestCase

from harper.errors import InvalidInput
from harper.operations.fields import Fields
from harper.operations.log_ops import LogFilter, log_filter, parse_log, read_entries
from harper.service.logs import start_logging
from tests.operations.helpers import OperationsCase

SAMPLE = """\
2026-11-25T10:00:00+0000 [-] twistd 26.10.0 starting
2026-11-25T10:00:01+0000 [harper.service.root.HarperService#info] http.port listening
2026-11-25T10:00:02+0000 [harper.http.rest.RestAPI#critical] GET /Dog failed
\tTraceback (most recent call last):
\tZeroDivisionError: division by zero
2026-11-25T10:00:03+0000 [harper.mqtt.broker.Broker#warn] slow subscriber
2026-11-25T10:00:04+0000 [harper.x#debug] detail
"""


class ParseTests(SynchronousTestCase):
    """
    L{parse_log} reads the format L{harper.service.logs} writes.
    """

    def test_entries(self) -> None:
        """
        Each header line starts an entry; tab-indented lines continue its message; twistd's
        own lines read as C{info}; Twisted's C{critical} is Harper's C{fatal}.
        """
        entries = [entry for entry, _ in parse_log(SAMPLE.splitlines(True))]
        self.assertEqual([entry["level"] for entry in entries], ["info", "info", "fatal", "warn", "debug"])
        self.assertEqual(entries[0], {"timestamp": "2026-11-25T10:00:00Z", "level": "info", "tags": ["-"],
                                      "message": "twistd 26.10.0 starting"})
        self.assertEqual(entries[2]["tags"], ["harper.http.rest.RestAPI"])
        self.assertEqual(entries[2]["message"],
                         "GET /Dog failed\nTraceback (most recent call last):\nZeroDivisionError: division by zero")


class ReadTests(SynchronousTestCase):
    """
    L{read_entries} and L{log_filter}.
    """

    def setUp(self) -> None:
        self.path = self.mktemp()
        with open(self.path, "w", encoding="utf-8") as stream:
            stream.write(SAMPLE)

    def read(self, **fields: object) -> list[str]:
        return [entry["message"].split("\n")[0] for entry in read_entries(self.path, log_filter(Fields(fields)))]

    def test_filters(self) -> None:
        """
        C{level}, C{from}/C{until} (ISO or epoch ms), C{filter}, C{start}, C{limit} and
        C{order} select entries.
        """
        self.assertEqual(self.read(level="warn"), ["slow subscriber"])
        self.assertEqual(self.read(level="fatal"), ["GET /Dog failed"])
        self.assertEqual(self.read(**{"from": "2026-11-25T10:00:02Z", "until": "2026-11-25T10:00:03Z"}),
                         ["GET /Dog failed", "slow subscriber"])
        millis = datetime.datetime(2026, 11, 25, 10, 0, 3, tzinfo=datetime.timezone.utc).timestamp() * 1000
        self.assertEqual(self.read(**{"from": millis}), ["slow subscriber", "detail"])
        self.assertEqual(self.read(filter="listening"), ["http.port listening"])
        self.assertEqual(self.read(start=1, limit=2), ["http.port listening", "GET /Dog failed"])
        self.assertEqual(self.read(order="desc", limit=2), ["detail", "slow subscriber"])
        self.assertEqual(self.read(order="desc", start=1, limit=1), ["slow subscriber"])

    def test_no_file(self) -> None:
        """
        A log file not written yet holds no entries.
        """
        self.assertEqual(read_entries(self.mktemp(), LogFilter()), [])

    def test_bad_filters(self) -> None:
        """
        Each bad field is refused naming it.
        """
        cases = [
            ({"level": "loud"}, "level: 'loud' is not one of"),
            ({"order": "up"}, "order: expected 'asc' or 'desc'"),
            ({"from": "yesterday"}, "from: expected an ISO 8601 date"),
            ({"until": True}, "until: expected an ISO 8601 date"),
            ({"from": "2026-11-26", "until": "2026-11-25"}, "from: must not be after until"),
            ({"limit": 0}, "limit: must be at least 1"),
            ({"start": -1}, "start: must be at least 0"),
            ({"limit": "ten"}, "limit: expected an integer"),
            ({"filter": 3}, "filter: expected text"),
        ]
        for fields, message in cases:
            error = self.assertRaises(InvalidInput, log_filter, Fields(fields))
            self.assertTrue(error.message.startswith(message), (fields, error.message))


class ReadLogOperationTests(OperationsCase):
    """
    C{read_log} over the operations API, on a file the daemon's log observers wrote.
    """

    config_text = "storage: {threadPoolSize: 2}\nlogging: {level: info}\n"

    async def test_read_log(self) -> None:
        """
        Entries logged through L{start_logging} come back, filtered; bad filters are 400s
        and non-super users 403s.
        """
        publisher = LogPublisher()
        stop = start_logging(self.runtime.config.logging, publisher)
        log = Logger(namespace="harper.test", observer=publisher)
        log.info("first {n}", n=1)
        log.debug("not written at level info")
        log.error("second")
        stop()
        entries = await self.ok({"operation": "read_log", "filter": "first"})
        self.assertEqual([(entry["tags"], entry["message"]) for entry in entries], [(["harper.test"], "first 1")])
        entries = await self.ok({"operation": "read_log", "order": "desc"})
        self.assertEqual([(entry["level"], entry["message"]) for entry in entries[:2]],
                         [("error", "second"), ("info", "first 1")])
        self.assertEqual([entry["message"] for entry in await self.ok({"operation": "read_log", "level": "error"})],
                         ["second"])
        self.assertTrue((await self.refused({"operation": "read_log", "level": "x"}, 400)).startswith("level:"))
        await self.refused({"operation": "read_log"}, 403, await self.add_reader())
