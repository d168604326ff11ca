# -*- test-case-name: tests.operations.test_audit_ops -*-
"""
The audit log through the operations API (super users only): C{read_audit_log},
C{read_transaction_log}, C{delete_audit_logs_before} and C{delete_transaction_logs_before}.

Both logs are views of the one audit log (L{harper.database.audit}): C{read_audit_log} shows
Harper's audit records (with the records before each change), C{read_transaction_log} the
shorter transaction records; deleting from either deletes from both.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, Optional

from harper.auth.permissions import require_super_user
from harper.database.audit import AuditChange, AuditHistory
from harper.database.events import DELETE, MESSAGE, PATCH
from harper.database.transaction import Transaction
from harper.errors import InvalidInput
from harper.operations.fields import expect
from harper.operations.jobs import jobs_of
from harper.operations.registry import OperationCall, OperationRegistry
from harper.resources.table import TableResource

operations = OperationRegistry()

SEARCH_TYPES = ("hash_value", "timestamp", "username")


def _history(call: OperationCall, action: str) -> tuple[TableResource, AuditHistory]:
    require_super_user(call.user, action)
    resource = call.scope.requested_table(call.fields)
    if resource.history is None:
        raise InvalidInput("the audit log is off: set logging.auditLog to true to keep one")
    return resource, resource.history


def _operation(change: AuditChange) -> str:
    if change.type == DELETE:
        return "delete"
    if change.type == MESSAGE:
        return "message"
    return "insert" if change.original is None else "update"


def _record(change: AuditChange, primary_key: str) -> Any:
    """
    What a change wrote: the whole record, or for a patch the attributes it set.
    """
    if change.type != PATCH or change.patched is None or not isinstance(change.value, dict):
        return change.value
    value = change.value
    return {primary_key: change.id, **{name: value[name] for name in change.patched if name in value}}


def _transactions_of(changes: Iterable[AuditChange]) -> Iterator[tuple[float, list[AuditChange]]]:
    """
    The changes in runs of one transaction each (one timestamp): C{(timestamp, changes)}.
    """
    for stamp, run in itertools.groupby(changes, key=lambda change: change.timestamp):
        yield stamp, list(run)


def _records(
    stamp: float, changes: list[AuditChange], primary_key: str, wanted: Optional[set[str]] = None
) -> list[dict]:
    """
    Harper's audit records of one transaction: one per operation and user, in the order of
    their first change (only the changes of the ids in C{wanted}, when given).
    """
    grouped: dict[tuple[str, Optional[str]], dict[str, Any]] = {}
    for change in changes:
        if wanted is not None and str(change.id) not in wanted:
            continue
        operation = _operation(change)
        record = grouped.get((operation, change.user))
        if record is None:
            record = grouped[(operation, change.user)] = {
                "operation": operation, "user_name": change.user, "timestamp": stamp,
                "hash_values": [],
            }
        record["hash_values"].append(change.id)
        if change.type != DELETE:
            record.setdefault("records", []).append(_record(change, primary_key))
        if change.original is not None:
            record.setdefault("original_records", []).append(change.original)
    return list(grouped.values())


def _timestamps(values: list) -> tuple[Optional[float], Optional[float]]:
    if len(values) > 2:
        raise InvalidInput("search_values: a timestamp search takes at most two values, [from, to]")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(
                f"search_values[{index}]: expected epoch milliseconds, got {value!r}"
            )
    return (values[0] if values else None, values[1] if len(values) > 1 else None)


@operations.register("read_audit_log")
async def read_audit_log(call: OperationCall) -> Any:
    """
    The audit records of a table: every record (C{search_type} absent), those between the
    C{timestamp}s of C{search_values} (C{[from]} or C{[from, to]}), by primary key
    (C{hash_value}: an object keyed by id) or by user (C{username}: keyed by user name).
    """
    resource, history = _history(call, "read the audit log")
    fields = call.fields
    search_type = fields.text("search_type", "timestamp")
    if search_type not in SEARCH_TYPES:
        known = ", ".join(SEARCH_TYPES)
        raise InvalidInput(f"search_type: expected one of {known}, got {search_type!r}")
    values = fields.list("search_values", [])
    table, primary_key = resource.table, resource.table.primary_key
    if search_type == "timestamp":
        start, end = _timestamps(values)

        def by_time(txn: Transaction) -> list[dict]:
            changes = history.log.changes(txn, table.database, table.name, start, end)
            return [
                record
                for stamp, run in _transactions_of(changes)
                for record in _records(stamp, run, primary_key)
            ]

        return await history.runner.run(by_time)
    for index, value in enumerate(values):
        if search_type == "username":
            expect(value, str, f"search_values[{index}]")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidInput(f"search_values[{index}]: expected a primary key, got {value!r}")
    wanted = [str(value) for value in values]

    def by_key(txn: Transaction) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {key: [] for key in wanted}
        changes = history.log.changes(txn, table.database, table.name)
        for stamp, run in _transactions_of(changes):
            if search_type == "username":
                for record in _records(stamp, run, primary_key):
                    if record["user_name"] in found:
                        found[record["user_name"]].append(record)
                continue
            for key in wanted:
                for record in _records(stamp, run, primary_key, {key}):
                    del record["hash_values"]
                    found[key].append(record)
        return found

    return await history.runner.run(by_key)


def _limit(call: OperationCall) -> Optional[int]:
    return call.fields.integer("limit", None, minimum=1)


def _moment(call: OperationCall, name: str, default: Any) -> Any:
    value = call.fields.value(name, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name}: expected epoch milliseconds, got {value!r}")
    return value


def _transactions(stamp: float, changes: list[AuditChange], primary_key: str) -> Iterable[dict]:
    for record in _records(stamp, changes, primary_key):
        item = {"operation": record["operation"], "user": record["user_name"], "timestamp": stamp}
        if "records" in record:
            item["records"] = record["records"]
        else:
            item["hash_values"] = record["hash_values"]
        yield item


@operations.register("read_transaction_log")
async def read_transaction_log(call: OperationCall) -> list[dict]:
    """
    The transactions of a table, oldest first: C{from} and C{to} (epoch ms, inclusive) bound
    them, C{limit} caps how many are returned.
    """
    resource, history = _history(call, "read the transaction log")
    start, end = _moment(call, "from", None), _moment(call, "to", None)
    limit = _limit(call)
    table, primary_key = resource.table, resource.table.primary_key

    def work(txn: Transaction) -> list[dict]:
        found: list[dict] = []
        changes = history.log.changes(txn, table.database, table.name, start, end)
        for stamp, run in _transactions_of(changes):
            for item in _transactions(stamp, run, primary_key):
                if limit is not None and len(found) >= limit:
                    return found
                found.append(item)
        return found

    return await history.runner.run(work)


async def _delete_before(call: OperationCall, operation: str, kind: str) -> dict[str, Any]:
    resource, history = _history(call, "delete audit log entries")
    before = _moment(call, "timestamp", None)
    if before is None:
        raise InvalidInput("timestamp: required")
    table = resource.table

    def work(txn: Transaction) -> dict[str, Any]:
        removed = history.log.delete_before(txn, table.database, table.name, before)
        where = f"{table.database}.{table.name}"
        return {"message": f"deleted {removed} {kind} entries of {where} before {before}"}

    job_id = await jobs_of(call.scope).start(operation, call.user.username, work)
    return {"message": f"Starting job with id {job_id}", "job_id": job_id}


@operations.register("delete_audit_logs_before")
async def delete_audit_logs_before(call: OperationCall) -> dict[str, Any]:
    """
    Start a job deleting a table's audit entries older than C{timestamp} (epoch ms).
    """
    return await _delete_before(call, "delete_audit_logs_before", "audit log")


@operations.register("delete_transaction_logs_before")
async def delete_transaction_logs_before(call: OperationCall) -> dict[str, Any]:
    """
    Start a job deleting a table's transaction entries older than C{timestamp} (epoch ms):
    the same entries as L{delete_audit_logs_before}.
    """
    return await _delete_before(call, "delete_transaction_logs_before", "transaction log")
