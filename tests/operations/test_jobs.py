"""
Tests for L{harper.operations.jobs}: the job table, C{get_job} and
C{search_jobs_by_start_date}.
"""

from __future__ import annotations

import datetime

from twisted.internet import reactor

from harper.database.transaction import Transaction
from harper.errors import InvalidInput
from harper.operations.jobs import INTERRUPTED, Jobs, jobs_of
from harper.operations.scope import OperationScope
from tests.operations.helpers import OperationsCase


def iso(millis: int) -> str:
    """
    The ISO 8601 text of epoch milliseconds.
    """
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc).isoformat()


class JobTests(OperationsCase):
    """
    Jobs are recorded in the C{hdb_job} table and read back by id and start date.
    """

    def jobs(self) -> Jobs:
        return jobs_of(OperationScope.of_runtime(self.runtime, reactor))

    def refuse(self, txn: Transaction) -> dict:
        raise InvalidInput("bad data")

    async def started(self, work: object, user: str = "admin") -> dict:
        jobs = self.jobs()
        job_id = await jobs.start("test", user, work)
        await jobs.finished(job_id)
        return await jobs.get(job_id)

    async def test_outcomes(self) -> None:
        """
        A job that succeeds is complete with the fields its work returned; one that fails
        with a harper error records its message; any other failure is logged and recorded as
        an internal error.
        """
        done = await self.started(lambda txn: {"message": "did it", "count": 2})
        self.assertEqual((done["status"], done["message"], done["count"]), ("COMPLETE", "did it", 2))
        failed = await self.started(self.refuse)
        self.assertEqual((failed["status"], failed["message"]), ("ERROR", "bad data"))
        crashed = await self.started(lambda txn: 1 / 0)
        self.assertEqual(crashed["status"], "ERROR")
        self.assertIn("internal error", crashed["message"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    async def test_interrupted(self) -> None:
        """
        Jobs a previous run of the daemon left in progress are recorded as failed when the
        jobs are next used; jobs started since are not touched.
        """
        earlier = Jobs(self.runtime.runner, reactor)
        left = {"id": "old", "type": "test", "status": "IN_PROGRESS", "user": "admin", "start_datetime": 1}
        await self.started(lambda txn: {"message": "ok"})
        await self.runtime.runner.run(lambda txn: earlier.table.put(txn, left))
        job = await Jobs(self.runtime.runner, reactor).get("old")
        self.assertEqual((job["status"], job["message"]), ("ERROR", INTERRUPTED))

    async def test_get_job(self) -> None:
        """
        C{get_job} answers with a one-element list; unknown ids are not found and a missing
        id is refused.
        """
        job = await self.started(lambda txn: {"message": "ok"})
        self.assertEqual(await self.ok({"operation": "get_job", "id": job["id"]}), [job])
        self.assertIn("nope", await self.refused({"operation": "get_job", "id": "nope"}, 404))
        self.assertEqual(await self.refused({"operation": "get_job"}, 400), "id: required")

    async def test_search_by_start_date(self) -> None:
        """
        C{search_jobs_by_start_date} finds the jobs started in the range, oldest first.
        """
        first = await self.started(lambda txn: {"message": "one"})
        second = await self.started(lambda txn: {"message": "two"})
        low, high = first["start_datetime"], second["start_datetime"]
        found = await self.ok({"operation": "search_jobs_by_start_date", "from_date": iso(low - 1000), "to_date": iso(high + 1000)})
        self.assertEqual([job["id"] for job in found], [first["id"], second["id"]])
        before = await self.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01", "to_date": iso(low - 1000)})
        self.assertEqual(before, [])

    async def test_search_refusals(self) -> None:
        """
        Dates must be ISO 8601 and in order.
        """
        error = await self.refused({"operation": "search_jobs_by_start_date", "from_date": "yesterday", "to_date": "2030-01-01"}, 400)
        self.assertIn("from_date: expected an ISO 8601 date", error)
        error = await self.refused({"operation": "search_jobs_by_start_date", "from_date": "2030-01-01", "to_date": "2020-01-01"}, 400)
        self.assertEqual(error, "to_date: must not be before from_date")
        await self.refused({"operation": "search_jobs_by_start_date", "from_date": "2030-01-01"}, 400)

    async def test_other_users_jobs(self) -> None:
        """
        A user who is not a super user sees only their own jobs.
        """
        reader = await self.add_reader()
        mine = await self.started(lambda txn: {"message": "admin's"})
        theirs = await self.started(lambda txn: {"message": "reader's"}, user="reader")
        await self.refused({"operation": "get_job", "id": mine["id"]}, 404, reader)
        self.assertEqual(await self.ok({"operation": "get_job", "id": theirs["id"]}, reader), [theirs])
        found = await self.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01", "to_date": "2999-01-01"}, reader)
        self.assertEqual([job["id"] for job in found], [theirs["id"]])
