# -*- test-case-name: tests.http.test_site -*-
"""
The HTTP root: static mounts of applications first, everything else to the REST routes.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twisted.python import filepath
from twisted.logger import Logger
from twisted.web import http, resource, server

from harper.http.cors import with_cors
from harper.http.overload import with_write_limit
from harper.http.rest import RestAPI


def _exists(folder: Any, name: str) -> bool:
    try:
        return folder.child(name).exists()
    except filepath.InsecurePath:
        return False


class HarperRoot(resource.Resource):
    """
    Dispatches each request to the static files mounted at the longest matching URL prefix,
    or to the REST API. A static mount at the root serves only paths that exist as files, so
    it never hides the REST routes.

    :param rest: the REST API.
    :param mounts: (URL path, twisted.web static resource) pairs.
    """

    def __init__(self, rest: RestAPI, mounts: Iterable[tuple[str, Any]]) -> None:
        super().__init__()
        self._rest = rest.resource()
        self._mounts = sorted(((tuple(p.split("/")) if p else (), r) for p, r in mounts), key=lambda m: -len(m[0]))

    def getChildWithDefault(self, name: bytes, request: server.Request) -> Any:
        if self._mounts:
            static = self._mounted(name, request)
            if static is not None:
                return static
        request.postpath.insert(0, request.prepath.pop())
        return self._rest

    def _mounted(self, name: bytes, request: server.Request) -> Any:
        """
        The static resource of the mount serving C{name}/C{request.postpath}, or C{None}.
        """
        segments = tuple(s.decode("utf-8", "replace") for s in [name] + request.postpath)
        for prefix, static in self._mounts:
            if not prefix:
                if not segments[0] or _exists(static, segments[0]):
                    return static.getChildWithDefault(name, request)
            elif segments[: len(prefix)] == prefix:
                for _ in range(len(prefix) - 1):
                    request.prepath.append(request.postpath.pop(0))
                return static
        return None

    def render(self, request: server.Request) -> Any:
        return self._rest.render(request)


def guarded(root: resource.Resource, http: Any, clock: Callable[[], float]) -> resource.Resource:
    """
    C{root} behind the write limit (C{http.requestQueueLimit}) and, outermost so that its
    refusals carry them too, the CORS headers (C{http.cors}, C{http.corsAccessList}).

    :param http: the L{harper.components.config_sections.HttpConfig}.
    :param clock: the current time in seconds (C{reactor.seconds}).
    """
    limited = with_write_limit(root, http.request_queue_limit, clock)
    return with_cors(limited, http.cors, http.cors_access_list)


# A module-level logger: as a class attribute it would take the class's name as namespace.
_access_log = Logger(namespace="harper.access")


class HarperSite(server.Site):
    """
    A twisted.web site that never shows tracebacks to clients and, when asked, writes its
    access log (combined log format) as C{info} events in the C{harper.access} namespace.

    :param access_log: log each request (off by default: it costs a third of a small GET).
    """

    displayTracebacks = False

    def __init__(self, root: resource.Resource, access_log: bool = False) -> None:
        super().__init__(root)
        self._access_log = access_log

    def log(self, request: server.Request) -> None:
        if self._access_log:
            line = http.combinedLogFormatter(http.datetimeToLogString(), request)
            _access_log.info("{line}", line=line)


def make_site(root: resource.Resource, access_log: bool = False) -> server.Site:
    """
    The twisted.web site over C{root}, logging each request when C{access_log}.
    """
    return HarperSite(root, access_log)
