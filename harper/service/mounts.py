# -*- test-case-name: tests.components.test_lifecycle -*-
"""
The HTTP root of a daemon whose applications change while it serves.
"""

from __future__ import annotations

from typing import Any

from twisted.web import resource, server

from harper.components.runtime import Runtime
from harper.http.rest import RestAPI
from harper.http.site import HarperRoot


class RemountingRoot(resource.Resource):
    """
    REST and the web resources of the serving applications (a L{HarperRoot}), built again
    each time the runtime's applications change, so that the routes of an application that
    was loaded, reloaded or removed serve (or stop serving) at once.

    :param rest: the REST API.
    :param runtime: the runtime whose applications are mounted.
    """

    def __init__(self, rest: RestAPI, runtime: Runtime) -> None:
        super().__init__()
        self._rest = rest
        self._runtime = runtime
        self._root = HarperRoot(rest, runtime.http_mounts())
        runtime.observe_applications(self.remount)

    def remount(self) -> None:
        """
        Mount the web resources of the applications serving now.
        """
        self._root = HarperRoot(self._rest, self._runtime.http_mounts())

    def serves_rest(self, path: bytes) -> bool:
        """
        Whether the REST API serves the request path C{path} (see L{HarperRoot.serves_rest}).
        """
        return self._root.serves_rest(path)

    def getChildWithDefault(self, name: bytes, request: server.Request) -> Any:
        return self._root.getChildWithDefault(name, request)

    def render(self, request: server.Request) -> Any:
        return self._root.render(request)
