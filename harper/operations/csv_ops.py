# -*- test-case-name: tests.operations.test_csv_ops -*-
"""
Bulk loads of CSV: C{csv_data_load} (the CSV text in the request) and C{csv_file_load} (a
file in the import folder C{<rootPath>/import}), run as background jobs (L{harper.operations.jobs}).

The first row names the attributes. Cells are converted to the declared types of their
attributes (C{Int} cells to integers and so on; attributes without a declared type get
numbers, C{true}/C{false}, C{null} and JSON objects or lists from text that reads as one);
empty cells are left out. Each record goes through the table's Resource API as the
C{insert}, C{update} and C{upsert} operations do, in one transaction: a row that cannot be
read or fails validation is reported in the job and not written, and the other rows are
loaded. CSV that cannot be parsed at all (an unterminated quote) fails the job and writes
nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Callable, Optional

from harper.database.transaction import Transaction
from harper.errors import Forbidden, InvalidInput, NotFound
from harper.operations.jobs import jobs_of
from harper.operations.query import key_of
from harper.operations.registry import OperationCall, OperationRegistry
from harper.resources.calls import authorize
from harper.resources.context import RequestContext
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget
from harper.schema.model import AttributeDefinition

operations = OperationRegistry()

#: The folder under the root path that C{csv_file_load} reads files from.
IMPORT_FOLDER = "import"

#: The permissions each C{action} needs.
#: The resource methods each action may call.
ACTIONS = {"insert": ("post",), "update": ("patch",), "upsert": ("post", "patch")}

_INTEGERS = frozenset({"Int", "Long", "BigInt"})

#: A numbered row of the CSV, as a record.
Row = tuple[int, dict[str, Any]]

#: A problem with the row on a numbered line.
RowError = tuple[int, str]


def _untyped(text: str) -> Any:
    if text in ("true", "false", "null"):
        return json.loads(text)
    if text[:1] in "{[-0123456789":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def cell_value(text: str, attribute: Optional[AttributeDefinition]) -> Any:
    """
    The value of one CSV cell for C{attribute} (C{None}: an undeclared attribute); text that
    does not read as the declared type stays text, for validation to refuse.
    """
    kind = (
        attribute.type.base_name if attribute is not None and not attribute.type.is_list else "Any"
    )
    try:
        if kind in _INTEGERS:
            return int(text)
        if kind == "Float":
            return float(text)
    except ValueError:
        return text
    if kind == "Boolean" and text in ("true", "false"):
        return text == "true"
    return _untyped(text) if kind == "Any" else text


def _header(names: list[str]) -> list[str]:
    for index, name in enumerate(names):
        if not name.strip():
            raise InvalidInput(f"CSV header: column {index + 1} has no name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"CSV header: {duplicates[0]!r} names more than one column")
    return [name.strip() for name in names]


def read_rows(text: str, resource: TableResource) -> tuple[list[Row], list[RowError]]:
    """
    The records of CSV C{text} by line number, and an error for each row that cannot be read.

    :raises InvalidInput: when the CSV has no header or cannot be parsed.
    """
    reader = csv.reader(io.StringIO(text), strict=True)
    rows: list[Row] = []
    errors: list[RowError] = []
    try:
        names = _header(next(reader, []))
        if not names:
            raise InvalidInput("data: the CSV is empty (the first row must name the attributes)")
        attributes = [resource.definition.attribute(name) for name in names]
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(names):
                errors.append(
                    (reader.line_num, f"{len(cells)} fields where the header has {len(names)}")
                )
                continue
            values = [
                (name, cell_value(cell, attribute))
                for name, cell, attribute in zip(names, cells, attributes)
                if cell != ""
            ]
            rows.append((reader.line_num, dict(values)))
    except csv.Error as error:
        raise InvalidInput(f"the CSV cannot be read at line {reader.line_num}: {error}") from None
    return rows, errors


def _write(resource: TableResource, record: dict, action: str, context: RequestContext) -> bool:
    """
    Write one record as C{action} does; return whether it was written (C{False}: skipped).
    """
    primary_key = resource.table.primary_key
    key = record.get(primary_key)
    if key is not None:
        key = key_of(resource, key, primary_key)
        record = {**record, primary_key: key}
    exists = key is not None and resource.read(key, context) is not None
    if exists and action != "insert":
        target = RequestTarget.record(key)
        authorize("patch", resource, target, context, record)
        resource.patch(target, record, context)
        return True
    if exists or action == "update":
        return False
    authorize("post", resource, RequestTarget.collection(), context, record)
    resource.post(RequestTarget.collection(), record, context)
    return True


def _load(
    call: OperationCall, resource: TableResource, action: str, read_text: Callable[[], str]
) -> Callable[[Transaction], dict]:
    """
    The transaction loading the CSV C{read_text()} gives: the fields of the finished job.
    """
    caller = call.scope.caller
    context = RequestContext(user=call.user, check_permission=True)

    def work(txn: Transaction) -> dict[str, Any]:
        context.transaction, context.tables = txn, caller.tables
        rows, errors = read_rows(read_text(), resource)
        total = len(rows) + len(errors)
        loaded = skipped = 0
        for line, record in rows:
            try:
                written = _write(resource, record, action, context)
            except InvalidInput as error:
                errors.append((line, error.message))
                continue
            loaded, skipped = loaded + written, skipped + (not written)
        return {
            "message": f"successfully loaded {loaded} of {total} records",
            "record_count": total,
            "loaded_count": loaded,
            "skipped_count": skipped,
            "errors": [f"line {line}: {message}" for line, message in sorted(errors)],
        }

    return work


async def _start(call: OperationCall, kind: str, read_text: Callable[[], str]) -> dict[str, Any]:
    resource = call.scope.requested_table(call.fields)
    action = call.fields.text("action", "insert")
    if action not in ACTIONS:
        raise InvalidInput(f"action: expected insert, update or upsert, got {action!r}")
    context = RequestContext(user=call.user, check_permission=True)
    for method in ACTIONS[action]:
        authorize(method, resource, RequestTarget.collection(), context)
    work = _load(call, resource, action, read_text)
    job_id = await jobs_of(call.scope).start(kind, call.user.username, work)
    return {"message": f"Starting job with id {job_id}", "job_id": job_id}


@operations.register("csv_data_load")
async def csv_data_load(call: OperationCall) -> dict[str, Any]:
    """
    Start a job loading the CSV text of C{data} into C{table} with C{action} (C{insert},
    C{update} or C{upsert}; default C{insert}).
    """
    data = call.fields.value("data")
    if not isinstance(data, str):
        raise InvalidInput("data: expected CSV text")
    return await _start(call, "csv_data_load", lambda: data)


def import_path(call: OperationCall, name: str) -> str:
    """
    The real path of the file field C{name} names (relative paths are taken from the import
    folder), which must lie in the import folder C{<rootPath>/import}: the rest of the root
    path holds the database and the keys, which no load may read.

    :raises Forbidden: for a path outside the import folder.
    """
    given = call.fields.text(name)
    folder = os.path.realpath(os.path.join(call.scope.config.root_path, IMPORT_FOLDER))
    path = os.path.realpath(os.path.join(folder, given))
    if os.path.commonpath([folder, path]) != folder:
        raise Forbidden(
            f"{name}: {given!r} is outside the import folder {folder}, the only folder loads read"
        )
    return path


def _file_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as file:
            return file.read()
    except FileNotFoundError:
        raise NotFound(f"file_path: there is no file {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"file_path: cannot read {path}: {error}") from None


@operations.register("csv_file_load")
async def csv_file_load(call: OperationCall) -> dict[str, Any]:
    """
    Start a job loading the CSV file C{file_path} (absolute, or relative to the import
    folder, where it must lie) into C{table} with C{action}; a file that cannot be read fails
    the job.
    """
    path = import_path(call, "file_path")
    return await _start(call, "csv_file_load", lambda: _file_text(path))
