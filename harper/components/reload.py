# -*- test-case-name: tests.components.test_reload -*-
"""
Dev mode's schema reload: a service that polls the modification times of every
application's schema files and, when one changes, re-reads the application's schema and
hands it to L{Runtime.reload_schema}. A schema that does not parse is logged and the tables
already serving stay as they are; Python modules and HTTP routes are not reloaded.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from twisted.application import service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harper.components.application import Application
from harper.components.runtime import Runtime
from harper.errors import SchemaError

#: What identifies one version of a file: (modification time in ns, size), or C{None} when
#: the file cannot be read.
Stamp = Optional[tuple[int, int]]


def stamp(path: str) -> Stamp:
    """
    The modification time and size of C{path}, C{None} when it is missing.
    """
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def read_sources(paths: list[str]) -> list[tuple[str, str]]:
    """
    The (file, text) pairs of the schema files C{paths}.

    :raises SchemaError: when a file cannot be read or is not UTF-8.
    """
    sources = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as stream:
                sources.append((path, stream.read()))
        except (OSError, UnicodeDecodeError) as error:
            raise SchemaError([f"{path}: cannot read: {error}"]) from error
    return sources


class SchemaWatcher(service.Service):
    """
    Polls the schema files of the applications of C{runtime} every C{interval} seconds and
    reloads the schema of an application whose files changed.

    :ivar clock: the L{IReactorTime} the polling runs on.
    """

    _log = Logger()

    def __init__(self, runtime: Runtime, clock: Any, interval: float = 1.0) -> None:
        self.runtime = runtime
        self.clock = clock
        self.interval = interval
        self._stamps: dict[Application, list[Stamp]] = {}
        self._loop: Optional[LoopingCall] = None

    def startService(self) -> None:
        super().startService()
        for application in self.runtime.applications:
            self._stamps[application] = self._current(application)
        self._loop = LoopingCall(self.check)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False)

    def stopService(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        return super().stopService()

    def check(self) -> None:
        """
        Reload the schema of every application whose schema files changed since the last
        check.
        """
        for application in self.runtime.applications:
            current = self._current(application)
            if current != self._stamps.get(application):
                self._stamps[application] = current
                self.reload(application)

    def reload(self, application: Application) -> bool:
        """
        Re-read and apply C{application}'s schema; log the changes, or the problems when the
        schema is invalid (the previous tables keep serving).

        :return: whether the new schema is serving.
        """
        try:
            sources = read_sources(self._paths(application))
            changes = self.runtime.reload_schema(application, sources)
        except SchemaError as error:
            self._log.error(
                "dev: the schema of {application} was not reloaded, the previous version keeps serving:\n{problems}",
                application=application.name, problems="\n".join(f"  - {line}" for line in error.problems),
            )
            return False
        self._log.info("dev: reloaded the schema of {application}", application=application.name)
        for line in changes:
            self._log.info("schema: {change}", change=line)
        return True

    @staticmethod
    def _paths(application: Application) -> list[str]:
        return [path for path, _ in application.schema_sources]

    def _current(self, application: Application) -> list[Stamp]:
        return [stamp(path) for path in self._paths(application)]
