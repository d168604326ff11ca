# -*- test-case-name: tests.operations.test_data_ops -*-
"""
Writing records: C{insert}, C{update}, C{upsert}, C{delete}.

Each request runs in one transaction through the table's Resource API (C{post}, C{patch},
C{delete}), so records are validated and indexed exactly as over REST; a record that fails
validation aborts the whole request. Every record passes the Resource layer's permission check
(L{harper.resources.calls.authorize}) before anything is written. Keys are converted to the primary key's type first.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from harper.database.transaction import Transaction
from harper.errors import InvalidInput
from harper.operations.fields import expect
from harper.operations.query import key_of, requested_keys
from harper.operations.registry import OperationCall, OperationRegistry
from harper.resources.calls import authorize
from harper.resources.context import RequestContext
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget

operations = OperationRegistry()

#: What a write does with one record: returns whether it was written.
RecordWrite = Callable[[TableResource, Any, Mapping[str, Any], RequestContext], bool]


def _records(
    call: OperationCall, resource: TableResource, key_required: bool
) -> list[tuple[Any, dict]]:
    """
    The request's C{records} with their keys (C{None} when absent and not required).
    """
    primary_key = resource.table.primary_key
    keyed = []
    for index, record in enumerate(call.fields.list("records")):
        where = f"records[{index}]"
        expect(record, dict, where)
        key = record.get(primary_key)
        if key is None and key_required:
            raise InvalidInput(f"{where}.{primary_key}: required")
        if key is not None:
            key = key_of(resource, key, f"{where}.{primary_key}")
            record = {**record, primary_key: key}
        keyed.append((key, record))
    return keyed


async def _write(
    call: OperationCall, methods: tuple[str, ...], key_required: bool, write: RecordWrite
) -> tuple[list, list]:
    """
    Apply C{write} to every record of the request in one transaction, once the user may call
    each of the resource C{methods} with each record; return the keys written and the keys
    skipped.
    """
    resource = call.scope.requested_table(call.fields)
    records = _records(call, resource, key_required)
    caller = call.scope.caller
    context = RequestContext(user=call.user, check_permission=True)
    for method in methods:
        for key, record in records:
            authorize(method, resource, RequestTarget.record(key), context, record)

    def work(txn: Transaction) -> tuple[list, list]:
        context.transaction, context.tables = txn, caller.tables
        written, skipped = [], []
        for key, record in records:
            if write(resource, key, record, context):
                written.append(record[resource.table.primary_key])
            else:
                skipped.append(key)
        return written, skipped

    return await caller.runner.run(work)


def _exists(resource: TableResource, key: Any, context: RequestContext) -> bool:
    return key is not None and resource.read(key, context) is not None


def _create(resource: TableResource, record: dict, context: RequestContext) -> None:
    stored = resource.post(RequestTarget.collection(), record, context)
    record[resource.table.primary_key] = stored[resource.table.primary_key]


def _insert(resource: TableResource, key: Any, record: dict, context: RequestContext) -> bool:
    if _exists(resource, key, context):
        return False
    _create(resource, record, context)
    return True


def _update(resource: TableResource, key: Any, record: dict, context: RequestContext) -> bool:
    if not _exists(resource, key, context):
        return False
    resource.patch(RequestTarget.record(key), record, context)
    return True


def _upsert(resource: TableResource, key: Any, record: dict, context: RequestContext) -> bool:
    if not _update(resource, key, record, context):
        _create(resource, record, context)
    return True


@operations.register("insert")
async def insert(call: OperationCall) -> dict[str, Any]:
    """
    Create records; a record whose key already exists is skipped; missing keys are generated.
    """
    written, skipped = await _write(call, ("post",), False, _insert)
    total = len(written) + len(skipped)
    return {
        "message": f"inserted {len(written)} of {total} records",
        "inserted_hashes": written,
        "skipped_hashes": skipped,
    }


@operations.register("update")
async def update(call: OperationCall) -> dict[str, Any]:
    """
    Merge each record into the stored record with its key; missing records are skipped.
    """
    written, skipped = await _write(call, ("patch",), True, _update)
    total = len(written) + len(skipped)
    return {
        "message": f"updated {len(written)} of {total} records",
        "update_hashes": written,
        "skipped_hashes": skipped,
    }


@operations.register("upsert")
async def upsert(call: OperationCall) -> dict[str, Any]:
    """
    Merge each record into the stored one with its key, or create it.
    """
    written, _ = await _write(call, ("post", "patch"), False, _upsert)
    count = len(written)
    return {"message": f"upserted {count} of {count} records", "upserted_hashes": written}


@operations.register("delete")
async def delete(call: OperationCall) -> dict[str, Any]:
    """
    Delete the records with the given C{ids}; ids without a record are skipped.
    """
    resource = call.scope.requested_table(call.fields)
    context = RequestContext(user=call.user, check_permission=True)
    authorize("delete", resource, RequestTarget.collection(), context)
    keys = requested_keys(call.fields, resource)
    caller = call.scope.caller

    def work(txn: Transaction) -> list[bool]:
        context.transaction, context.tables = txn, caller.tables
        return [bool(resource.delete(RequestTarget.record(key), context)) for key in keys]

    outcome = await caller.runner.run(work)
    deleted = [key for key, done in zip(keys, outcome) if done]
    skipped = [key for key, done in zip(keys, outcome) if not done]
    return {
        "message": f"{len(deleted)} of {len(keys)} records successfully deleted",
        "deleted_hashes": deleted,
        "skipped_hashes": skipped,
    }
