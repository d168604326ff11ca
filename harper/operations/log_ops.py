# -*- test-case-name: tests.operations.test_log_ops -*-
"""
C{read_log}: the entries of the daemon's log file (C{logging.file}, written by
L{harper.service.logs}) matching the request's filters (super users only).

Each entry of that file starts with C{<timestamp> [<namespace>#<level>] <text>}; the lines of
a multi-line text (a traceback) follow, indented with a tab. Entries logged by twistd itself
carry no level (C{[-]}) and read as C{info}. The file is read on a worker thread.
"""

from __future__ import annotations

import collections
import datetime
import re
from typing import Any, Iterable, Iterator, Optional

import attr
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool

from harper.auth.permissions import require_super_user
from harper.errors import InvalidInput
from harper.operations.fields import Fields
from harper.operations.registry import OperationCall, OperationRegistry

operations = OperationRegistry()

#: Twisted's level names (as the file spells them) to Harper's.
LEVEL_NAMES = {
    "debug": "debug", "info": "info", "warn": "warn", "error": "error", "critical": "fatal",
}

#: The levels a C{level} filter may name (Harper's names).
LEVELS = ("trace", "debug", "info", "notify", "warn", "error", "fatal")

_ENTRY = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d{4}) \[([^\]]*)\] ?(.*)$")


@attr.frozen
class LogFilter:
    """
    What C{read_log} selects.

    :ivar level: only entries of this level, or C{None} for all.
    :ivar since: only entries at or after this time (UTC), or C{None}.
    :ivar until: only entries at or before this time (UTC), or C{None}.
    :ivar text: only entries whose message contains this, or C{None}.
    :ivar start: matching entries to skip.
    :ivar limit: the most entries to return.
    :ivar newest_first: C{order: "desc"}.
    """

    level: Optional[str] = None
    since: Optional[datetime.datetime] = None
    until: Optional[datetime.datetime] = None
    text: Optional[str] = None
    start: int = 0
    limit: int = 1000
    newest_first: bool = False

    def accepts(self, entry: dict[str, Any], when: datetime.datetime) -> bool:
        """
        Whether C{entry} (logged at C{when}) passes the filters.
        """
        if self.level is not None and entry["level"] != self.level:
            return False
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when > self.until:
            return False
        return self.text is None or self.text in entry["message"]


def _entry(timestamp: str, system: str, text: str) -> tuple[dict[str, Any], datetime.datetime]:
    when = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S%z" if "." not in timestamp
                                      else "%Y-%m-%dT%H:%M:%S.%f%z")
    namespace, _, level = system.rpartition("#")
    if level in LEVEL_NAMES and namespace:
        tags, level = [namespace], LEVEL_NAMES[level]
    else:
        tags, level = [system], "info"
    entry = {"timestamp": when.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
             "level": level, "tags": tags, "message": text}
    return entry, when


def parse_log(lines: Iterable[str]) -> Iterator[tuple[dict[str, Any], datetime.datetime]]:
    """
    The entries of the log file's C{lines}, oldest first, each with its time; lines before
    the first entry header are skipped.
    """
    current: Optional[list[str]] = None
    for line in lines:
        line = line.rstrip("\n")
        match = _ENTRY.match(line)
        if match is None:
            if current is not None and line.startswith("\t"):
                current[2] += "\n" + line[1:]
            continue
        if current is not None:
            yield _entry(*current)
        current = list(match.groups())
    if current is not None:
        yield _entry(*current)


def read_entries(path: str, wanted: LogFilter) -> list[dict[str, Any]]:
    """
    The entries of the log file C{path} that C{wanted} selects (none when there is no file).
    """
    try:
        stream = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    with stream:
        matching = (entry for entry, when in parse_log(stream) if wanted.accepts(entry, when))
        if wanted.newest_first:
            kept = collections.deque(matching, maxlen=wanted.start + wanted.limit)
            return list(reversed(kept))[wanted.start:]
        selected = []
        for index, entry in enumerate(matching):
            if index >= wanted.start + wanted.limit:
                break
            if index >= wanted.start:
                selected.append(entry)
        return selected


def _time(fields: Fields, name: str) -> Optional[datetime.datetime]:
    value = fields.value(name, None)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value / 1000.0, tz=datetime.timezone.utc)
    if isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return when if when.tzinfo is not None else when.replace(tzinfo=datetime.timezone.utc)
    raise InvalidInput(f"{name}: expected an ISO 8601 date or epoch milliseconds, got {value!r}")


def log_filter(fields: Fields) -> LogFilter:
    """
    The filter a C{read_log} request describes.

    :raises InvalidInput: naming the first bad field.
    """
    level = fields.text("level", None)
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level: {level!r} is not one of {', '.join(LEVELS)}")
    order = fields.text("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidInput(f"order: expected 'asc' or 'desc', got {order!r}")
    since, until = _time(fields, "from"), _time(fields, "until")
    if since is not None and until is not None and since > until:
        raise InvalidInput("from: must not be after until")
    return LogFilter(
        level={"trace": "debug", "notify": "info"}.get(level, level) if level else None,
        since=since,
        until=until,
        text=fields.text("filter", None),
        start=fields.integer("start", 0),
        limit=fields.integer("limit", 1000, minimum=1),
        newest_first=order == "desc",
    )


@operations.register("read_log")
def read_log(call: OperationCall) -> Deferred[list[dict[str, Any]]]:
    """
    The log entries matching C{level}, C{from}, C{until} and C{filter}, oldest first (or
    newest first with C{order: "desc"}), from C{start} on, at most C{limit} (1000).
    """
    require_super_user(call.user, "read the log")
    wanted = log_filter(call.fields)
    reactor = call.scope.clock
    path = call.scope.config.logging.file
    return deferToThreadPool(reactor, reactor.getThreadPool(), read_entries, path, wanted)
