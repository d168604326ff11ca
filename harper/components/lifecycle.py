# -*- test-case-name: tests.components.test_lifecycle -*-
"""
Applications loaded, reloaded and removed while the daemon serves.

A reload reads the application folder again from the start (its C{config.yaml}, schema files
matched by the plugins' globs, Python modules imported afresh) into a new L{Application}; only
once that version loaded completely does L{Runtime.install_application} put it in the place
of the one serving. Whatever fails on the way is raised as a L{StartupError} listing the
problems, and the previous version keeps serving.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from twisted.logger import Logger

from harper.components.application import Application
from harper.components.loader import component_folders, load_application
from harper.components.runtime import Runtime
from harper.errors import StartupError


class Applications:
    """
    The applications of a started L{Runtime}.

    :param runtime: the started runtime.
    :param plugins: the plugins applications may use, by name (see
        L{harper.components.loader.discover_plugins}).
    """

    _log = Logger()

    def __init__(self, runtime: Runtime, plugins: Mapping[str, Any]) -> None:
        self.runtime = runtime
        self.plugins = plugins

    def find(self, path: str) -> Optional[Application]:
        """
        The serving application of folder C{path}, or C{None}.
        """
        real = os.path.realpath(path)
        for application in self.runtime.applications:
            if os.path.realpath(application.path.path) == real:
                return application
        return None

    def load(self, path: str, url_path: str = "") -> Application:
        """
        Load the application of folder C{path} and serve it at C{url_path}.

        :raises StartupError: listing every problem; nothing changed.
        """
        application = load_application(path, url_path, self.runtime.config, self.plugins)
        self._log_changes("loaded", application, self.runtime.install_application(application))
        return application

    def reload(self, application: Application) -> Application:
        """
        Load C{application}'s folder again and serve the new version in its place.

        :return: the new version.
        :raises StartupError: listing every problem; the previous version keeps serving.
        """
        loaded = load_application(application.path.path, application.url_path, self.runtime.config, self.plugins)
        self._log_changes("reloaded", loaded, self.runtime.install_application(loaded, application))
        return loaded

    def remove(self, application: Application) -> None:
        """
        Stop serving C{application} (its records stay stored).
        """
        self.runtime.remove_application(application)
        self._log.info("removed the application {application}", application=application.name)

    def reload_all(self) -> list[str]:
        """
        Reload every serving application and load the component folders that are new
        (L{harper.components.loader.component_folders}); an application that fails keeps its
        previous version.

        :return: every problem found, one line each.
        """
        problems = []
        for application in self.runtime.applications:
            try:
                self.reload(application)
            except StartupError as error:
                problems.extend(error.problems)
        for folder in component_folders(self.runtime.config):
            if self.find(folder) is None:
                try:
                    self.load(folder)
                except StartupError as error:
                    problems.extend(error.problems)
        return problems

    def _log_changes(self, what: str, application: Application, changes: list[str]) -> None:
        self._log.info("{what} the application {application}", what=what, application=application.name)
        for line in changes:
            self._log.info("schema: {change}", change=line)
