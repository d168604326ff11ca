# -*- test-case-name: tests.http.test_rest -*-
"""
HTTP to the Resource API: resolve the path, negotiate the media types, build the target and
the request context, call the resource in one transaction, and answer.

Collections are encoded while their transaction is still open, so the records of a query are
never gathered in a list. Every harper error becomes its status with a body
C{{"error": message}} in the negotiated type; anything else is a 500 whose traceback is
logged and whose text is not sent.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping, Optional
from urllib.parse import quote

import attr
from twisted.internet.defer import Deferred
from twisted.internet.threads import blockingCallFromThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.iweb import IRequest

from harper.errors import HarperError, InvalidInput, MethodNotAllowed, NotFound
from harper.auth import permissions
from harper.auth.sessions import credentials
from harper.auth.throttle import TooManyFailures
from harper.http import conditional, openapi
from harper.http.blobs import answer_codec, decode_request_body, is_record_path, send_blob
from harper.http.codecs import JSON_CODEC, Codec
from harper.http.errors import PayloadTooLarge, UnknownMethod, status_for
from harper.http.negotiation import accepts_gzip, response_codec
from harper.http.responses import Answer, send, start
from harper.http.headers import RequestHeaders
from harper.http.streaming import CollectionStream, Counted, StreamStopped, is_lazy
from harper.http.targets import resolve, target_for
from harper.resources.calls import ResourceCaller
from harper.resources.context import RequestContext
from harper.resources.freshness import parse_cache_control
from harper.resources.registry import ResourceRegistry
from harper.resources.table import TableResource
from harper.resources.target import RequestTarget

_CALLS = {b"GET": "get", b"HEAD": "get", b"PUT": "put", b"POST": "post", b"PATCH": "patch", b"DELETE": "delete"}
_WITH_BODY = frozenset({b"PUT", b"POST", b"PATCH"})
_READS = frozenset({b"GET", b"HEAD"})
_WRITES = frozenset({b"PUT", b"PATCH", b"DELETE"})
#: C{Prefer: count=...} values and whether they allow an estimate.
_COUNTS = {"count=exact": False, "count=estimated": True}
#: Collections limited to more records than this (or not limited) are streamed.
STREAMED_OVER = 1000
_OPENAPI_PATHS = frozenset({"/openapi", "/openapi/"})


@attr.frozen
class _Collection:
    """
    A collection encoded inside its transaction: the body, how many values it holds and,
    when the client asked (C{Prefer: count=}), how many records match in all.
    """

    body: bytes
    size: int
    total: Optional[int]


@attr.define
class _Exchange:
    """
    One REST request on its way through L{RestAPI}.
    """

    request: IRequest
    method: bytes
    codec: Codec
    resource: Any = None
    target: Optional[RequestTarget] = None
    context: Optional[RequestContext] = None
    started: float = 0.0
    streaming: bool = False


#: C{authenticate(authorization_header, client_address)}: fires with the user or C{None}.
Authenticate = Callable[[Optional[str], str], Deferred]


class RestAPI(resource.Resource):
    """
    The REST interface over a registry of resources, as a twisted.web resource.

    :param registry: exported resources by path.
    :param caller: runs resource calls in transactions.
    :param max_body_size: the largest accepted request body, in bytes.
    :param compression_threshold: larger bodies are gzip-compressed for clients that accept it.
    :param last_modified: whether record answers carry C{Last-Modified}
        (C{rest: {lastModified: true}}).
    :param reactor: the reactor serving the requests; with it, collections that may be large
        are streamed from a worker thread (see L{harper.http.streaming}); without it, they are
        encoded whole.
    :param confirm_replication: given an C{X-Replicate-To} header value, checks it (raising
        L{InvalidInput}) and returns the function that waits, after a write, for the peer
        confirmations it asks for; C{None} on a node that does not replicate.
    :param analytics: records each answered request's resource, method and duration
        (L{harper.analytics.recorder.Analytics}), or C{None}.
    """

    isLeaf = True
    _log = Logger()

    def __init__(
        self,
        registry: ResourceRegistry,
        caller: ResourceCaller,
        max_body_size: int,
        *,
        authenticate: Authenticate,
        compression_threshold: int = 1200,
        last_modified: bool = False,
        reactor: Any = None,
        confirm_replication: Optional[Callable[[str], Callable[[], Deferred]]] = None,
        analytics: Any = None,
    ) -> None:
        super().__init__()
        self._analytics = analytics
        self._confirm_replication = confirm_replication
        self._authenticate = authenticate
        self._registry = registry
        self._caller = caller
        self._max_body_size = max_body_size
        self._threshold = compression_threshold
        self._last_modified = last_modified
        self._reactor = reactor

    def resource(self) -> "RestAPI":
        """
        The twisted.web resource serving the REST interface (this object).
        """
        return self

    def context_for(self, request: IRequest) -> Deferred:
        """
        The request context of C{request}, with the authenticated user (C{None} when no
        credentials were sent); fails with L{Unauthorized} for bad credentials.
        """
        return self._user(request).addCallback(self._context, request)

    def _user(self, request: IRequest) -> Deferred:
        address = request.getClientAddress()
        authorization = credentials(request.getHeader("authorization"), request.getHeader("cookie"))
        return self._authenticate(authorization, getattr(address, "host", ""))

    def _context(self, user: Any, request: IRequest) -> RequestContext:
        return RequestContext(
            user=user, headers=RequestHeaders(request.requestHeaders),
            cache_control=parse_cache_control(request.getHeader("cache-control")),
            check_permission=True,
        )

    def _then(
        self, d: Deferred, step: Callable[..., None], exchange: _Exchange, *args: Any
    ) -> None:
        """
        Call C{step(result, exchange, *args)} with C{d}'s result, and L{_failed} with any
        failure of C{d} or of C{step}. When C{d} already has its result (a local caller's
        user, a read answered from the ZODB cache), C{step} runs at once, without going
        through C{d}'s callback chain: most requests are answered that way.
        """
        if d.called and not d.paused and not isinstance(d.result, Failure):
            try:
                step(d.result, exchange, *args)
            except Exception:
                self._failed(Failure(), exchange)
            return
        d.addCallback(step, exchange, *args).addErrback(self._failed, exchange)

    def render(self, request: IRequest) -> Any:
        """
        Serve one REST request; the answer is written when the resource call is done.
        """
        exchange = _Exchange(request, request.method, JSON_CODEC)
        try:
            self._dispatch(exchange)
        except HarperError as error:
            self._error(exchange, error)
        except Exception:
            self._crashed(Failure(), exchange)
        return server.NOT_DONE_YET

    # -- the request -----------------------------------------------------------------------

    def _dispatch(self, exchange: _Exchange) -> None:
        request, method = exchange.request, exchange.method
        try:
            uri = request.uri.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the request URL is not valid UTF-8") from None
        raw_path, _, query_text = uri.partition("?")
        if raw_path in _OPENAPI_PATHS and method in _READS:
            self._openapi(exchange)
            return
        found, remainder, suffix = resolve(self._registry, raw_path)
        exchange.resource = found
        record_read = method in _READS and is_record_path(remainder)
        exchange.codec = answer_codec(request.getHeader("accept"), suffix, record_read)
        if method == b"OPTIONS":
            request.setHeader(b"allow", ", ".join(found.allowed_methods()).encode("ascii"))
            send(request, 204, b"", None, self._threshold)
            return
        call = _CALLS.get(method)
        if call is None:
            raise UnknownMethod(f"{method.decode('latin-1')} is not a method harper serves")
        target = exchange.target = target_for(found, remainder, query_text)
        if method == b"POST" and remainder is None:
            target = exchange.target = RequestTarget(is_collection=True, query=target.query)
        if method == b"DELETE" and target.is_collection and target.query.conditions is None:
            raise InvalidInput("DELETE on a collection needs a query naming the records to delete")
        args = (self._body(request),) if method in _WITH_BODY else ()
        self._then(self._user(request), self._call, exchange, call, args)

    def _call(self, user: Any, exchange: _Exchange, call: str, args: tuple) -> None:
        """
        Call the resource (or stream its collection); the caller checks the permission.
        """
        exchange.context = context = self._context(user, exchange.request)
        found, target = exchange.resource, exchange.target
        exchange.started = time.perf_counter()
        if self._streams(exchange):
            self._stream(exchange)
            return
        confirmed = self._replication_wait(exchange)
        d = self._caller.call(call, found, target, context, *args, inside=self._inside(exchange))
        if confirmed is not None:
            d.addCallback(lambda result: confirmed().addCallback(lambda _: result))
        self._then(d, self._respond, exchange)

    def _replication_wait(self, exchange: _Exchange) -> Optional[Callable[[], Deferred]]:
        """
        For a write with C{X-Replicate-To}: the function waiting for the confirmations.
        """
        if exchange.method in _READS:
            return None
        header = exchange.request.getHeader("x-replicate-to")
        if header is None:
            return None
        if self._confirm_replication is None:
            raise InvalidInput("X-Replicate-To: this node does not replicate (replication.hostname is not set)")
        return self._confirm_replication(header)

    def _openapi(self, exchange: _Exchange) -> None:
        """
        Answer the OpenAPI description of the exported resources (super users only).
        """
        request = exchange.request
        exchange.codec = response_codec(request.getHeader("accept"))

        def answer(context: RequestContext) -> None:
            permissions.require_super_user(context.user, "read the OpenAPI description")
            description = openapi.document(self._registry.items())
            send(request, 200, exchange.codec.encode(description), exchange.codec, self._threshold)

        self.context_for(request).addCallback(answer).addErrback(self._failed, exchange)

    def _body(self, request: IRequest) -> Any:
        content = request.content
        content.seek(0, 2)
        if content.tell() > self._max_body_size:
            raise PayloadTooLarge(f"the request body is larger than {self._max_body_size} bytes")
        content.seek(0)
        return decode_request_body(request.getHeader("content-type"), content.read())

    def _inside(self, exchange: _Exchange) -> Callable[[Any], Any]:
        """
        What to do with the resource's result inside its transaction: encode a lazy
        collection (and count its matches when asked).
        """

        def inside(result: Any) -> Any:
            if not is_lazy(result):
                return result
            counted = Counted(result)
            body = b"".join(exchange.codec.encode_sequence(counted))
            return _Collection(body, counted.size, self._total(exchange))

        return inside

    def _total(self, exchange: _Exchange) -> Optional[int]:
        prefer = exchange.request.getHeader("prefer")
        estimate = _COUNTS.get(prefer.strip().lower()) if prefer else None
        if estimate is None or not isinstance(exchange.resource, TableResource):
            return None
        return exchange.resource.count(exchange.target, exchange.context, estimate)

    # -- streamed collections --------------------------------------------------------------

    def _streams(self, exchange: _Exchange) -> bool:
        """
        Whether to stream the answer: a GET of a table collection that may be large.
        """
        if self._reactor is None or exchange.method != b"GET" or not exchange.target.is_collection:
            return False
        limit = exchange.target.query.limit
        return isinstance(exchange.resource, TableResource) and (limit is None or limit > STREAMED_OVER)

    def _stream(self, exchange: _Exchange) -> None:
        """
        Run the query on a worker thread and write its records as they are encoded.
        """
        request = exchange.request
        stream = CollectionStream(self._reactor, request, accepts_gzip(request.getHeader("accept-encoding")))
        exchange.context.streaming = True

        def inside(values: Any) -> None:
            total = self._total(exchange)
            blockingCallFromThread(self._reactor, self._start_stream, exchange, stream, total)
            # Records already sent may leave the connection's object cache mid-transaction.
            connection = exchange.context.transaction.connection
            stream.write_all(exchange.codec.encode_sequence(values), connection.cacheGC)

        work = self._caller.work("get", exchange.resource, exchange.target, exchange.context, inside=inside)
        d = self._caller.runner.run(work)
        d.addCallbacks(self._end_stream, self._stream_failed, (exchange,), None, (exchange,))

    def _start_stream(self, exchange: _Exchange, stream: CollectionStream, total: Optional[int]) -> None:
        request = exchange.request
        request.setHeader(b"server-timing", conditional.server_timing(time.perf_counter() - exchange.started))
        if total is not None:
            query = exchange.target.query
            size = max(0, min(total - query.offset, total if query.limit is None else query.limit))
            self._content_range(request, query.offset, size, total)
        start(request, 200, exchange.codec)
        if stream.compressed:
            request.setHeader(b"content-encoding", b"gzip")
        request.registerProducer(stream, True)
        exchange.streaming = True

    def _end_stream(self, _: Any, exchange: _Exchange) -> None:
        request = exchange.request
        request.unregisterProducer()
        if request.channel is not None:
            request.finish()

    def _stream_failed(self, failure: Failure, exchange: _Exchange) -> None:
        if not exchange.streaming:
            self._failed(failure, exchange)
            return
        request = exchange.request
        request.unregisterProducer()
        if failure.check(StreamStopped) or request.channel is None:
            return
        self._log.failure("streaming {uri} failed; closing the connection", failure, uri=request.uri)
        request.channel.transport.abortConnection()

    # -- the answer ------------------------------------------------------------------------

    def _respond(self, result: Any, exchange: _Exchange) -> None:
        request, method, context = exchange.request, exchange.method, exchange.context
        elapsed = time.perf_counter() - exchange.started
        request.setHeader(b"server-timing", conditional.server_timing(elapsed))
        if self._analytics is not None:
            self._analytics.record(exchange.resource, method, elapsed * 1000.0)
        for name, value in context.response_headers.items():
            request.setHeader(name, value)
        if isinstance(result, _Collection):
            self._collection(exchange, result)
            return
        is_table = isinstance(exchange.resource, TableResource)
        answer = None if is_table else Answer.from_result(result)
        if answer is not None:
            self._answer(exchange, answer)
        elif method == b"POST" and is_table:
            self._created(exchange, result)
        elif method in _WRITES and (result is None or is_table):
            if method == b"DELETE" and not result and not exchange.target.is_collection:
                raise NotFound(f"no record {exchange.target.id!r} to delete")
            send(request, 204, b"", None, self._threshold)
        elif result is None:
            if method in _READS:
                raise NotFound(f"no record {exchange.target.id!r}")
            send(request, 204, b"", None, self._threshold)
        elif method in _READS and context.last_modified is not None and self._not_modified(exchange):
            send(request, 304, b"", None, self._threshold)
        elif not send_blob(request, result, self._threshold):
            send(request, 200, exchange.codec.encode(result), exchange.codec, self._threshold)

    def _not_modified(self, exchange: _Exchange) -> bool:
        """
        Set the validators of the record read; whether C{If-None-Match} names it.
        """
        request, version = exchange.request, exchange.context.last_modified
        tag = conditional.etag(version)
        request.setHeader(b"etag", tag.encode("ascii"))
        if self._last_modified:
            request.setHeader(b"last-modified", conditional.last_modified(version))
        return conditional.none_match(request.getHeader("if-none-match"), tag)

    def _collection(self, exchange: _Exchange, collection: _Collection) -> None:
        request = exchange.request
        if collection.total is not None:
            self._content_range(request, exchange.target.query.offset, collection.size, collection.total)
        send(request, 200, collection.body, exchange.codec, self._threshold)

    def _content_range(self, request: IRequest, offset: int, size: int, total: int) -> None:
        span = f"{offset}-{offset + size - 1}" if size else "*"
        request.setHeader(b"content-range", f"items {span}/{total}".encode("ascii"))

    def _created(self, exchange: _Exchange, record: Mapping[str, Any]) -> None:
        request = exchange.request
        key = record[exchange.resource.table.primary_key]
        base = request.path.decode("utf-8").rstrip("/")
        request.setHeader(b"location", f"{base}/{quote(str(key), safe='')}".encode("ascii"))
        send(request, 201, exchange.codec.encode(record), exchange.codec, self._threshold)

    def _answer(self, exchange: _Exchange, answer: Answer) -> None:
        request = exchange.request
        for name, value in answer.headers.items():
            request.setHeader(name, value)
        if answer.body is not None:
            send(request, answer.status, answer.body, None, self._threshold)
        elif answer.data is None:
            send(request, answer.status, b"", None, self._threshold)
        else:
            send(request, answer.status, exchange.codec.encode(answer.data), exchange.codec, self._threshold)

    # -- failures --------------------------------------------------------------------------

    def _failed(self, failure: Failure, exchange: _Exchange) -> None:
        if failure.check(HarperError):
            self._error(exchange, failure.value)
        else:
            self._crashed(failure, exchange)

    def _crashed(self, failure: Failure, exchange: _Exchange) -> None:
        if failure.check(UnicodeDecodeError):
            # twisted.web decodes the header values asked for by text name as UTF-8.
            self._error(exchange, InvalidInput("a request header is not valid UTF-8"))
            return
        request = exchange.request
        self._log.failure("{method} {uri} failed", failure, method=exchange.method, uri=request.uri)
        self._send_error(exchange, 500, "internal error; see the server log")

    def _error(self, exchange: _Exchange, error: HarperError) -> None:
        status = status_for(error)
        if status == 500:
            self._log.error("unexpected error {error!r}", error=error)
        if isinstance(error, MethodNotAllowed) and error.allowed:
            exchange.request.setHeader(b"allow", ", ".join(error.allowed).encode("ascii"))
        if isinstance(error, TooManyFailures):
            exchange.request.setHeader(b"retry-after", str(max(1, math.ceil(error.retry_after))).encode("ascii"))
        self._send_error(exchange, status, error.message)

    def _send_error(self, exchange: _Exchange, status: int, message: str) -> None:
        request = exchange.request
        if request.finished:
            return
        codec = exchange.codec
        try:
            body = codec.encode({"error": message})
        except Exception:
            codec, body = JSON_CODEC, JSON_CODEC.encode({"error": message})
        send(request, status, body, codec, self._threshold)
