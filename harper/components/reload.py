# -*- test-case-name: tests.components.test_reload -*-
"""
Dev mode's reload: a service that polls the files of every serving application and, when one
is added, changed or removed, reloads that application completely (its C{config.yaml}, its
schema files, its Python modules, its routes) through L{Applications.reload}. A version that
does not load is logged with its problems and the previous version keeps serving.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from twisted.application import service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from harper.components.lifecycle import Applications
from harper.errors import StartupError

#: What identifies the version of an application's files: each file's path relative to the
#: folder, with its modification time in ns and its size.
Snapshot = dict[str, tuple[int, int]]

#: Folders whose changes do not matter (caches, version control).
IGNORED = frozenset({"__pycache__", ".git", ".hg", ".svn", "node_modules"})


def snapshot(folder: str) -> Snapshot:
    """
    The modification time and size of every file under C{folder}, by relative path (files
    that vanish while it is read are left out).
    """
    found: Snapshot = {}
    for directory, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name not in IGNORED]
        for name in files:
            path = os.path.join(directory, name)
            try:
                status = os.stat(path)
            except OSError:
                continue
            found[os.path.relpath(path, folder)] = (status.st_mtime_ns, status.st_size)
    return found


class ApplicationWatcher(service.Service):
    """
    Polls the files of the serving applications every C{interval} seconds and reloads an
    application whose files changed.

    :ivar clock: the L{IReactorTime} the polling runs on.
    """

    _log = Logger()

    def __init__(self, applications: Applications, clock: Any, interval: float = 1.0) -> None:
        self.applications = applications
        self.clock = clock
        self.interval = interval
        self._snapshots: dict[str, Snapshot] = {}
        self._loop: Optional[LoopingCall] = None

    def startService(self) -> None:
        super().startService()
        for application in self.applications.runtime.applications:
            self._snapshots[application.path.path] = snapshot(application.path.path)
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
        Reload every application whose files changed since the last check (an application
        loaded since then is only looked at).
        """
        for application in list(self.applications.runtime.applications):
            folder = application.path.path
            current = snapshot(folder)
            previous = self._snapshots.setdefault(folder, current)
            if current != previous:
                self._snapshots[folder] = current
                self.reload(application)

    def reload(self, application: Any) -> bool:
        """
        Reload C{application}; log the problems when the new version does not load (the
        previous version keeps serving).

        :return: whether the new version is serving.
        """
        try:
            self.applications.reload(application)
        except StartupError as error:
            self._log.error(
                "dev: {application} was not reloaded, the previous version keeps serving:\n{problems}",
                application=application.name, problems="\n".join(f"  - {line}" for line in error.problems),
            )
            return False
        except Exception:
            self._log.failure("dev: reloading {application} failed, the previous version keeps serving",
                              application=application.name)
            return False
        return True
