# -*- test-case-name: tests.http.test_cors -*-
"""
Cross-origin resource sharing on the HTTP port, as C{http.cors} and C{http.corsAccessList}
configure it.

L{CorsResource} wraps the root resource. A request from an allowed origin (any origin when
the access list is empty) gets C{Access-Control-Allow-Origin} naming that origin,
C{Access-Control-Allow-Credentials: true} (so browsers may send credentials) and
C{Access-Control-Expose-Headers}; a preflight (C{OPTIONS} with C{Origin} and
C{Access-Control-Request-Method}) is answered here with C{204} and the methods and headers
harper takes, or with C{403} for an origin outside the list. Other requests from origins
outside the list get no CORS headers, so browsers withhold the answer from their scripts.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import attr
from twisted.web import resource, server
from twisted.web.iweb import IRequest

from harper.http.codecs import JSON_CODEC
from harper.http.responses import send
from harper.http.wrapping import FrontResource

#: The methods a preflight answer allows.
ALLOWED_METHODS = b"GET, HEAD, PUT, POST, PATCH, DELETE, OPTIONS"
#: The request headers a preflight answer allows.
ALLOWED_HEADERS = b"Accept, Authorization, Cache-Control, Content-Type, If-None-Match, Prefer"
#: The response headers scripts of other origins may read.
EXPOSED_HEADERS = b"Age, Content-Range, ETag, Last-Modified, Location, Server-Timing"
#: Seconds a browser may reuse a preflight answer.
PREFLIGHT_MAX_AGE = b"86400"


@attr.frozen
class CorsPolicy:
    """
    Which origins may read harper's answers.

    :ivar access_list: the allowed origins; empty allows every origin.
    """

    access_list: frozenset[str] = frozenset()

    def allows(self, origin: str) -> bool:
        """
        Whether scripts from C{origin} may read the answers.
        """
        return not self.access_list or origin in self.access_list


def _is_preflight(request: IRequest) -> bool:
    if request.method != b"OPTIONS":
        return False
    return request.getHeader(b"access-control-request-method") is not None


class _Preflight(resource.Resource):
    """
    The answer to a preflight request, whose CORS headers are already set.
    """

    isLeaf = True

    def __init__(self, allowed: bool, origin: str) -> None:
        super().__init__()
        self._allowed = allowed
        self._origin = origin

    def render(self, request: IRequest) -> Any:
        if self._allowed:
            request.setHeader(b"access-control-allow-methods", ALLOWED_METHODS)
            request.setHeader(b"access-control-allow-headers", ALLOWED_HEADERS)
            request.setHeader(b"access-control-max-age", PREFLIGHT_MAX_AGE)
            send(request, 204, b"", None, 0)
        else:
            error = {"error": f"origin {self._origin} is not in http.corsAccessList"}
            send(request, 403, JSON_CODEC.encode(error), JSON_CODEC, 1 << 30)
        return server.NOT_DONE_YET


class CorsResource(FrontResource):
    """
    C{wrapped} (the HTTP root) with CORS headers and preflight answers.

    :param wrapped: the resource serving the requests.
    :param policy: the allowed origins.
    """

    def __init__(self, wrapped: resource.Resource, policy: CorsPolicy) -> None:
        super().__init__(wrapped)
        self._policy = policy

    def intercept(self, request: IRequest) -> Optional[resource.Resource]:
        """
        Set the CORS headers of C{request}'s answer; the preflight answer, if it is one.
        """
        raw = request.getHeader(b"origin")
        if raw is None:
            return None
        origin = raw.decode("latin-1")  # origins are ASCII; anything else is simply not listed
        allowed = self._policy.allows(origin)
        request.responseHeaders.addRawHeader(b"vary", b"Origin")
        if allowed:
            request.setHeader(b"access-control-allow-origin", origin.encode("latin-1"))
            request.setHeader(b"access-control-allow-credentials", b"true")
            request.setHeader(b"access-control-expose-headers", EXPOSED_HEADERS)
        return _Preflight(allowed, origin) if _is_preflight(request) else None


def with_cors(
    root: resource.Resource, enabled: bool, access_list: Iterable[str] = ()
) -> resource.Resource:
    """
    C{root} answering cross-origin requests (see L{CorsResource}) when C{enabled}
    (C{http.cors}), from the origins of C{access_list} (C{http.corsAccessList}; empty for
    any).
    """
    if not enabled:
        return root
    return CorsResource(root, CorsPolicy(frozenset(access_list)))
