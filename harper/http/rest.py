# -*- test-case-name: tests.http.test_rest -*-
"""
HTTP to the Resource API: resolve the path, build the target, call the resource in a
transaction, encode the result.
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import unquote

from klein import Klein
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest

from harper.errors import HarperError, InvalidInput, MethodNotAllowed, NotFound
from harper.http.encoding import JSON, decode_body, encode_json
from harper.http.errors import PayloadTooLarge, UnknownMethod, status_for
from harper.resources.calls import ResourceCaller
from harper.resources.context import RequestContext
from harper.resources.querystring import parse_query
from harper.resources.registry import ResourceRegistry
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget
from harper.schema.validate import coerce_key

_KNOWN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})
_METHOD_CALLS = {"GET": "get", "HEAD": "get", "PUT": "put", "POST": "post", "PATCH": "patch", "DELETE": "delete"}
_WITH_BODY = frozenset({"PUT", "POST", "PATCH"})


def target_for(resource: Any, remainder: Optional[str], query_text: str) -> RequestTarget:
    """
    The target a request path addresses below a resource (see L{ResourceRegistry.resolve}).
    """
    query = parse_query(query_text)
    if remainder is None:
        return RequestTarget(is_collection=bool(query_text), query=query)
    if remainder == "":
        return RequestTarget(is_collection=True, query=query, path="")
    text, attribute = remainder, None
    definition = getattr(resource, "definition", None)
    if definition is not None and "." in text:
        head, _, tail = text.rpartition(".")
        if definition.attribute(tail) is not None:
            text, attribute = head, tail
    key = coerce_key(text, definition) if definition is not None else text
    return RequestTarget(id=key, query=query, attribute=attribute, path=remainder)


def _headers(request: IRequest) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): values[-1].decode("latin-1")
        for name, values in request.requestHeaders.getAllRawHeaders()
    }


class RestAPI:
    """
    The REST routes over a registry of resources.

    :param registry: exported resources by path.
    :param caller: runs resource calls in transactions.
    :param max_body_size: the largest accepted request body, in bytes.
    """

    app = Klein()
    _log = Logger()

    def __init__(self, registry: ResourceRegistry, caller: ResourceCaller, max_body_size: int) -> None:
        self._registry = registry
        self._caller = caller
        self._max_body_size = max_body_size

    def resource(self) -> Any:
        """
        The twisted.web resource serving the routes.
        """
        return self.app.resource()

    @app.route("/", branch=True, methods=None)
    def dispatch(self, request: IRequest) -> Any:
        """
        Serve one REST request.
        """
        try:
            return self._dispatch(request).addErrback(self._failed, request)
        except HarperError as error:
            return self._error(request, error)

    def _dispatch(self, request: IRequest) -> Deferred:
        method = request.method.decode("ascii", "replace")
        if method not in _KNOWN_METHODS:
            raise UnknownMethod(f"{method} is not supported")
        raw_path, _, query_text = request.uri.decode("latin-1").partition("?")
        try:
            path = unquote(raw_path.lstrip("/"), errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput("the request path is not valid UTF-8") from None
        resource, remainder = self._registry.resolve(path)
        if method == "OPTIONS":
            request.setHeader("Allow", ", ".join(resource.allowed_methods()))
            request.setResponseCode(204)
            return succeed(b"")
        target = target_for(resource, remainder, query_text)
        context = RequestContext(headers=_headers(request))
        args: tuple = ()
        if method in _WITH_BODY:
            args = (self._body(request),)
        if method == "POST" and remainder is None:
            target = RequestTarget(is_collection=True)
        d = self._caller.call(_METHOD_CALLS[method], resource, target, context, *args)
        return d.addCallback(self._respond, request, method, resource, target, context)

    def _body(self, request: IRequest) -> Any:
        content = request.content
        content.seek(0, 2)
        if content.tell() > self._max_body_size:
            raise PayloadTooLarge(f"the request body is larger than {self._max_body_size} bytes")
        content.seek(0)
        return decode_body(request.getHeader("content-type"), content.read())

    def _respond(self, result: Any, request: IRequest, method: str, resource: Any, target: RequestTarget, context: RequestContext) -> bytes:
        for name, value in context.response_headers.items():
            request.setHeader(name, value)
        if method == "POST" and isinstance(resource, TableResource):
            request.setResponseCode(201)
            request.setHeader("Location", f"{request.path.decode('latin-1').rstrip('/')}/{result[resource.table.primary_key]}")
        elif method in ("PUT", "PATCH", "DELETE") and (result is None or isinstance(resource, TableResource)):
            if method == "DELETE" and not result and not target.is_collection:
                raise NotFound(f"no record {target.id!r} to delete")
            request.setResponseCode(204)
            return b""
        elif result is None:
            if method in ("GET", "HEAD"):
                raise NotFound(f"no record {target.id!r}")
            request.setResponseCode(204)
            return b""
        request.setHeader("Content-Type", JSON)
        return encode_json(result)

    def _failed(self, failure: Failure, request: IRequest) -> bytes:
        if failure.check(HarperError):
            return self._error(request, failure.value)
        self._log.failure("request {method} {uri} failed", failure, method=request.method, uri=request.uri)
        request.setResponseCode(500)
        request.setHeader("Content-Type", JSON)
        return encode_json({"error": "internal error; see the server log"})

    def _error(self, request: IRequest, error: HarperError) -> bytes:
        status = status_for(error)
        if status == 500:
            self._log.error("unexpected error {error!r}", error=error)
        request.setResponseCode(status)
        if isinstance(error, MethodNotAllowed) and error.allowed:
            request.setHeader("Allow", ", ".join(error.allowed))
        request.setHeader("Content-Type", JSON)
        return encode_json({"error": error.message})
