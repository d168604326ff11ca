# -*- test-case-name: tests.operations.test_jobs -*-
"""
Background jobs: long operations (the CSV loads) run after their request has been answered,
and their progress is kept in the C{system} database's C{hdb_job} table: id, type, status
(C{IN_PROGRESS}, C{COMPLETE}, C{ERROR}), the user who started it, start and end times (epoch
milliseconds), a message, counts and the errors of refused rows.

C{get_job} and C{search_jobs_by_start_date} read that table; users other than super users
see only their own jobs.
"""

from __future__ import annotations

import datetime
import uuid
import weakref
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from harper.auth.system import system_table
from harper.database.conditions import Condition, Query, SortKey
from harper.database.migrate import migrate
from harper.database.query import QueryExecutor
from harper.database.table import Table
from harper.database.transaction import Transaction, TransactionRunner
from harper.errors import HarperError, InvalidInput, NotFound
from harper.operations.registry import OperationCall, OperationRegistry
from harper.schema.model import AttributeDefinition, TypeRef

operations = OperationRegistry()

IN_PROGRESS, COMPLETE, ERROR = "IN_PROGRESS", "COMPLETE", "ERROR"

#: The message of a job the daemon stopped before it finished.
INTERRUPTED = "the daemon stopped before the job finished; run it again"

JOB_TABLE = system_table(
    "hdb_job",
    AttributeDefinition("id", TypeRef("String"), primary_key=True),
    AttributeDefinition("type", TypeRef("String", nullable=False)),
    AttributeDefinition("status", TypeRef("String", nullable=False), indexed=True),
    AttributeDefinition("user", TypeRef("String"), indexed=True),
    AttributeDefinition("start_datetime", TypeRef("Long", nullable=False), indexed=True),
    AttributeDefinition("end_datetime", TypeRef("Long")),
    AttributeDefinition("message", TypeRef("String")),
    AttributeDefinition("errors", TypeRef("Any")),
)

#: What a job does in its transaction: returns the fields to add to its finished record,
#: C{message} among them.
JobWork = Callable[[Transaction], dict[str, Any]]


class Jobs:
    """
    The jobs of one daemon, kept in the C{hdb_job} table (created on first use).

    :param runner: runs transactions.
    :param clock: the time source.
    """

    _log = Logger()

    def __init__(self, runner: TransactionRunner, clock: IReactorTime) -> None:
        self._runner = runner
        self._clock = clock
        self.table = Table(JOB_TABLE)
        self._created: Optional[Deferred] = None
        self._running: dict[str, Deferred] = {}
        self._opened_at = self._now()

    def _now(self) -> int:
        return int(self._clock.seconds() * 1000)

    async def _transaction(self, work: Callable[[Transaction], Any]) -> Any:
        if self._created is None:
            self._created = self._runner.run(self._prepare)
        await self._created
        return await self._runner.run(work)

    def _prepare(self, txn: Transaction) -> None:
        """
        Create the job table, and end the jobs an earlier run of the daemon left in progress.
        """
        migrate(txn, [self.table])
        query = Query(Condition("status", "equals", IN_PROGRESS))
        for job in list(QueryExecutor(txn, self.table, _no_relationships).run(query)):
            if job["start_datetime"] < self._opened_at:
                self._finish(txn, job["id"], {"status": ERROR, "message": INTERRUPTED})

    async def start(self, type: str, user: Optional[str], work: JobWork) -> str:
        """
        Record a new job C{IN_PROGRESS} and start C{work} in a transaction in the background;
        return the job's id once recorded. The job becomes C{COMPLETE} with the fields C{work}
        returned in the same transaction (so a completed job's writes are committed), or
        C{ERROR} with its error's message in a new one.
        """
        job_id = str(uuid.uuid4())
        record = {
            "id": job_id,
            "type": type,
            "status": IN_PROGRESS,
            "user": user,
            "start_datetime": self._now(),
        }
        await self._transaction(lambda txn: self.table.put(txn, record))

        def complete(txn: Transaction) -> None:
            self._finish(txn, job_id, {"status": COMPLETE, **work(txn)})

        def failed(failure: Failure) -> Deferred:
            fields = {"status": ERROR, "message": self._failure_message(failure)}
            return self._runner.run(lambda txn: self._finish(txn, job_id, fields))

        done = self._runner.run(complete).addErrback(failed)
        done.addErrback(
            lambda failure: self._log.failure("job {id} could not be recorded", failure, id=job_id)
        )
        self._running[job_id] = done
        done.addBoth(self._forget, job_id)
        return job_id

    def _forget(self, result: Any, job_id: str) -> None:
        self._running.pop(job_id, None)

    def _failure_message(self, failure: Failure) -> str:
        if failure.check(HarperError):
            return failure.value.message
        self._log.failure("job failed", failure)
        return "the job failed with an internal error; see the server log"

    def _finish(self, txn: Transaction, job_id: str, fields: dict[str, Any]) -> None:
        current = self.table.get(txn, job_id)
        self.table.put(txn, {**current, **fields, "end_datetime": self._now()})

    def finished(self, job_id: str) -> Deferred[None]:
        """
        A Deferred firing once job C{job_id} is recorded as finished (at once if it is not
        running).
        """
        running = self._running.get(job_id)
        notified: Deferred[None] = Deferred()
        if running is None:
            notified.callback(None)
            return notified

        def notify(result: Any) -> Any:
            notified.callback(None)
            return result

        running.addBoth(notify)
        return notified

    async def get(self, job_id: str) -> Optional[dict]:
        """
        The record of job C{job_id}, or C{None}.
        """
        return await self._transaction(lambda txn: self.table.get(txn, job_id))

    async def started_between(self, low: int, high: int) -> list[dict]:
        """
        The jobs started between epoch milliseconds C{low} and C{high}, oldest first.
        """
        query = Query(
            Condition("start_datetime", "between", (low, high)), sort=(SortKey("start_datetime"),)
        )

        def work(txn: Transaction) -> list[dict]:
            return list(QueryExecutor(txn, self.table, _no_relationships).run(query))

        return await self._transaction(work)


def _no_relationships(type_name: str) -> Table:
    raise InvalidInput(f"the job table has no relationship to {type_name}")


_JOBS: "weakref.WeakKeyDictionary[Any, Jobs]" = weakref.WeakKeyDictionary()


def jobs_of(scope: Any) -> Jobs:
    """
    The jobs of the daemon an L{harper.operations.scope.OperationScope} belongs to (one
    L{Jobs} per resource caller).
    """
    jobs = _JOBS.get(scope.caller)
    if jobs is None:
        jobs = _JOBS[scope.caller] = Jobs(scope.caller.runner, scope.clock)
    return jobs


def _visible(call: OperationCall, job: dict) -> bool:
    user = call.user
    return bool(user.super_user) or job.get("user") == user.username


def _epoch_millis(call: OperationCall, name: str) -> int:
    text = call.fields.text(name)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name}: expected an ISO 8601 date such as 2026-01-31T12:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


@operations.register("get_job")
async def get_job(call: OperationCall) -> list[dict]:
    """
    The job with the given C{id}, as a one-element list.
    """
    job_id = call.fields.text("id")
    job = await jobs_of(call.scope).get(job_id)
    if job is None or not _visible(call, job):
        raise NotFound(f"job {job_id!r} does not exist")
    return [job]


@operations.register("search_jobs_by_start_date")
async def search_jobs_by_start_date(call: OperationCall) -> list[dict]:
    """
    The jobs started between C{from_date} and C{to_date} (ISO 8601), oldest first.
    """
    low, high = _epoch_millis(call, "from_date"), _epoch_millis(call, "to_date")
    if high < low:
        raise InvalidInput("to_date: must not be before from_date")
    jobs = await jobs_of(call.scope).started_between(low, high)
    return [job for job in jobs if _visible(call, job)]
