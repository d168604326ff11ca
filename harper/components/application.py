# -*- test-case-name: tests.components.test_loader -*-
"""
One application while it loads: what its plugins declared (schema text, resources, web
resources, start-up work), before any database exists.
"""

from __future__ import annotations

import glob
import os
from typing import Any, Callable, Iterable, Optional, Union

from twisted.python.filepath import FilePath
from zope.interface import implementer

from harper.interfaces import IApplicationScope

StartCallback = Callable[[Any], Any]
StopCallback = Callable[[], Any]


@implementer(IApplicationScope)
class Application:
    """
    The L{IApplicationScope} of one application folder.

    :ivar schema_sources: (file, SDL text) pairs added by the schema plugin.
    :ivar resources: (export name, resource) pairs from code.
    :ivar http_resources: (URL path, twisted.web resource) pairs.
    :ivar start_callbacks: run with the runtime once the database is ready.
    :ivar stop_callbacks: run when the application is unloaded or replaced, and when the
        daemon stops.
    :ivar rest_options: the REST plugin's options, C{None} when REST is off.
    """

    def __init__(self, path: Union[str, FilePath], config: Any, url_path: str = "") -> None:
        self.path = path if isinstance(path, FilePath) else FilePath(os.path.abspath(path))
        self.name = self.path.basename()
        self.config = config
        self.url_path = url_path.strip("/")
        self.schema_sources: list[tuple[str, str]] = []
        self.resources: list[tuple[str, Any]] = []
        self.http_resources: list[tuple[str, Any]] = []
        self.start_callbacks: list[StartCallback] = []
        self.stop_callbacks: list[StopCallback] = []
        self.rest_options: Optional[dict[str, Any]] = None

    def files(self, pattern: Union[str, Iterable[str]]) -> list[FilePath]:
        """
        The application's files matching glob C{pattern} (C{**} recurses), sorted; patterns
        never reach outside the application folder.
        """
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        root = os.path.realpath(self.path.path)
        found: set[str] = set()
        for each in patterns:
            for match in glob.glob(os.path.join(root, each), recursive=True):
                real = os.path.realpath(match)
                if os.path.isfile(real) and (real == root or real.startswith(root + os.sep)):
                    found.add(real)
        return [FilePath(path) for path in sorted(found)]

    def add_schema(self, source: str, text: str) -> None:
        """
        Add GraphQL SDL C{text} read from C{source}.
        """
        self.schema_sources.append((source, text))

    def export_resource(self, name: str, resource: Any) -> None:
        """
        Serve C{resource} at C{name} under the application's URL path.
        """
        self.resources.append((name, resource))

    def add_http_resource(self, url_path: str, resource: Any) -> None:
        """
        Serve the twisted.web C{resource} at C{url_path} under the application's URL path.
        """
        self.http_resources.append((url_path.strip("/"), resource))

    def on_start(self, callback: StartCallback) -> None:
        """
        Run C{callback(runtime)} when the database is open and tables exist.
        """
        self.start_callbacks.append(callback)

    def on_stop(self, callback: StopCallback) -> None:
        """
        Run C{callback()} when the application stops serving.
        """
        self.stop_callbacks.append(callback)

    def exported_tables(self, runtime: Any) -> list[Any]:
        """
        The table resources of this application's exported tables in the started C{runtime}.
        """
        return [
            runtime.resources[(definition.database, definition.name)]
            for entry in runtime.planned
            if entry.application is self
            for definition in entry.schema.tables
            if definition.export_name is not None
        ]

    def enable_rest(self, options: dict[str, Any]) -> None:
        """
        Serve this application's exported resources over HTTP.
        """
        self.rest_options = dict(options)

    def export_path(self, name: str) -> str:
        """
        The full path (no leading slash) of an export called C{name}.
        """
        return "/".join(part for part in (self.url_path, name.strip("/")) if part)
