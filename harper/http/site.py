# -*- test-case-name: tests.http.test_site -*-
"""
The HTTP root: static mounts of applications first, everything else to the REST routes.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Optional

from twisted.python import filepath
from twisted.logger import Logger
from twisted.web import http, resource, server

from harper.http.cors import with_cors
from harper.http.lane import LaneChannel, RestLane
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
        self._depth = max((len(prefix) for prefix, _ in self._mounts), default=0) or 1
        # What serves_rest found per leading segments; not kept with a mount at the root,
        # whose answer depends on the files present.
        self._served: Optional[dict[tuple[bytes, ...], bool]] = None if any(not p for p, _ in self._mounts) else {}

    def getChildWithDefault(self, name: bytes, request: server.Request) -> Any:
        if self._mounts:
            static = self._mounted(name, request)
            if static is not None:
                return static
        request.postpath.insert(0, request.prepath.pop())
        return self._rest

    def serves_rest(self, path: bytes) -> bool:
        """
        Whether the REST API serves the request path C{path} (no static mount serves it).
        """
        if not self._mounts:
            return True
        segments = tuple(path.split(b"/", self._depth + 1)[1 : self._depth + 1])
        served = self._served
        known = served.get(segments) if served is not None else None
        if known is None:
            known = self._mount_for(tuple(s.decode("utf-8", "replace") for s in segments)) is None
            if served is not None and len(served) < 4096:
                served[segments] = known
        return known

    def _mount_for(self, segments: tuple[str, ...]) -> Optional[tuple[tuple[str, ...], Any]]:
        """
        The (prefix, static resource) of the mount serving the path C{segments}, or C{None}.
        """
        for prefix, static in self._mounts:
            if not prefix:
                if not segments[0] or _exists(static, segments[0]):
                    return prefix, static
            elif segments[: len(prefix)] == prefix:
                return prefix, static
        return None

    def _mounted(self, name: bytes, request: server.Request) -> Any:
        """
        The static resource of the mount serving C{name}/C{request.postpath}, or C{None}.
        """
        mount = self._mount_for(tuple(s.decode("utf-8", "replace") for s in [name] + request.postpath))
        if mount is None:
            return None
        prefix, static = mount
        if not prefix:
            return static.getChildWithDefault(name, request)
        for _ in range(len(prefix) - 1):
            request.prepath.append(request.postpath.pop(0))
        return static

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
    With a REST lane, each connection starts on it (see L{harper.http.lane}).

    :param access_log: log each request (off by default: it costs a third of a small GET).
    :param lane: the REST lane, or C{None} to serve every request with twisted.web.
    :param idle_timeout: seconds a connection served by twisted.web may stay idle.
    :param reactor: the reactor timing the connections (the global one by default).
    """

    displayTracebacks = False

    def __init__(self, root: resource.Resource, access_log: bool = False, lane: Optional[RestLane] = None,
                 idle_timeout: float = 60.0, reactor: Any = None) -> None:
        super().__init__(root, timeout=idle_timeout, reactor=reactor)
        self._access_log = access_log
        self.lane = lane

    def buildProtocol(self, addr: Any) -> Any:
        if self.lane is None:
            return super().buildProtocol(addr)
        return LaneChannel(self.lane, functools.partial(server.Site.buildProtocol, self, addr), self.log)

    def log(self, request: server.Request) -> None:
        if self._access_log:
            line = http.combinedLogFormatter(http.datetimeToLogString(), request)
            _access_log.info("{line}", line=line)


def make_site(root: resource.Resource, access_log: bool = False, lane: Optional[RestLane] = None,
              idle_timeout: float = 60.0, reactor: Any = None) -> server.Site:
    """
    The twisted.web site over C{root}, logging each request when C{access_log}, starting
    each connection on C{lane} when given (see L{HarperSite}).
    """
    return HarperSite(root, access_log, lane, idle_timeout, reactor)
