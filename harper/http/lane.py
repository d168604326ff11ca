# -*- test-case-name: tests.http.test_lane -*-
"""
The REST lane of the HTTP port: plain REST requests go from the socket to the REST API
without twisted.web's request machinery.

Every connection to the HTTP port starts on a L{LaneChannel}. It reads request heads itself
(L{harper.http.wire}) and, for as long as each request is one L{RestLane.takes} (a REST
method on a path the REST API serves, no upgrade, no event stream, no chunked body), serves
it with a L{harper.http.lean.LeanRequest} through the same resources in front of the root
(CORS, the write limit) and the same L{harper.http.rest.RestAPI} as twisted.web would. At the
first request it does not take, the connection is handed, with every byte not yet served, to
twisted.web's own channel for the rest of its life: WebSocket upgrades, event streams, static
files and the routes of custom web resources are served there, as before.

The lane also bounds what a client can hold: the time to send a request head
(C{http.headersTimeout}; a slow client gets C{408}), to send a body and be answered
(C{http.timeout}; C{408} while the body is incomplete, C{503} with C{Retry-After} once the
request runs), to stay idle between requests (C{http.keepAliveTimeout}), the size of a head
(C{http.maxHeaderSize}; C{431}) and of a body (C{http.maxBodySize}; C{413} before the body is
read). Deadlines are checked once a second for all connections rather than with a timer per
request.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import attr
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IProtocol, ISSLTransport, ITCPTransport
from twisted.internet.protocol import Protocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.http import datetimeToString
from twisted.web.server import version as SERVER_VERSION

from harper.errors import HarperError
from harper.http.codecs import JSON_CODEC
from harper.http.errors import status_for
from harper.http.lean import LeanRequest
from harper.http.wire import BadHead, RequestHead, Unusual, parse_head, status_line
from harper.http.wrapping import intercepted

REST_METHODS = frozenset({b"GET", b"HEAD", b"PUT", b"POST", b"PATCH", b"DELETE", b"OPTIONS"})
#: Bytes held beyond the request being served before the lane stops reading.
_READ_AHEAD = 1 << 20
_END_OF_HEAD = b"\r\n\r\n"


@attr.frozen
class LaneLimits:
    """
    What one connection may take, in seconds and bytes.
    """

    headers_timeout: float = 60.0
    request_timeout: float = 120.0
    keep_alive_timeout: float = 30.0
    max_header_size: int = 16384
    max_body_size: int = 10485760

    @classmethod
    def of_config(cls, http: Any) -> "LaneLimits":
        """
        The limits C{http} (a L{harper.components.config_sections.HttpConfig}) sets.
        """
        return cls(
            http.headers_timeout / 1000.0, http.timeout / 1000.0, http.keep_alive_timeout / 1000.0,
            http.max_header_size, http.max_body_size,
        )


class RestLane:
    """
    Which requests go straight to the REST API, and serving them there.

    :param front: the HTTP root with its front resources (L{harper.http.wrapping}), whose
        interceptions apply to the lane's requests too.
    :param rest: the REST API.
    :param routes: whether the REST API serves a request path (no static mount in front).
    :param limits: the bounds of each connection.
    :param clock: the reactor, for the time and the deadline checks.
    """

    _log = Logger()

    def __init__(self, front: resource.Resource, rest: resource.Resource, routes: Callable[[bytes], bool],
                 limits: LaneLimits, clock: Any) -> None:
        self._front = front
        self._rest = rest
        self._routes = routes
        self.limits = limits
        self.clock = clock
        self._channels: set["LaneChannel"] = set()
        self._sweep = LoopingCall(self._expire)
        self._sweep.clock = clock
        self._second = -1
        self._date = b""

    def takes(self, head: RequestHead) -> bool:
        """
        Whether the lane serves the request of C{head}.
        """
        fields = head.fields
        if head.method not in REST_METHODS:
            return False
        if b"upgrade" in fields or b"transfer-encoding" in fields or b"expect" in fields:
            return False
        if b"text/event-stream" in fields.get(b"accept", b""):
            return False
        return self._routes(head.path)

    def serve(self, request: LeanRequest) -> None:
        """
        Answer C{request}: the front resources first, then the REST API.
        """
        try:
            answerer = intercepted(self._front, request) or self._rest
            answer = answerer.render(request)
            if answer is not server.NOT_DONE_YET:
                request.write(answer)
                request.finish()
        except HarperError as error:
            refuse(request.channel, status_for(error), error.message)
        except Exception:
            self._log.failure("{method} {uri} failed", Failure(), method=request.method, uri=request.uri)
            refuse(request.channel, 500, "internal error; see the server log")

    def date(self) -> bytes:
        """
        The C{Date} of answers sent now (the same bytes for a whole second).
        """
        now = int(self.clock.seconds())
        if now != self._second:
            self._second, self._date = now, datetimeToString(now)
        return self._date

    def opened(self, channel: "LaneChannel") -> None:
        """
        Watch the deadlines of C{channel}.
        """
        self._channels.add(channel)
        if not self._sweep.running:
            self._sweep.start(1.0, now=False)

    def closed(self, channel: "LaneChannel") -> None:
        """
        Stop watching C{channel}.
        """
        self._channels.discard(channel)
        if not self._channels and self._sweep.running:
            self._sweep.stop()

    def _expire(self) -> None:
        now = self.clock.seconds()
        for channel in [c for c in self._channels if c.deadline <= now]:
            channel.expired()


def refuse(channel: Any, status: int, message: str, headers: bytes = b"") -> None:
    """
    Answer C{status} with C{{"error": message}} on C{channel} (a L{LaneChannel}, or C{None}
    when the client is gone) and close the connection.

    :param headers: extra header lines, each ending with CRLF.
    """
    if channel is None or channel.transport is None:
        return
    body = JSON_CODEC.encode({"error": message})
    channel.transport.write(b"".join((
        status_line(b"HTTP/1.1", status), b"Server: ", SERVER_VERSION, b"\r\nDate: ", channel.lane.date(),
        b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n" % len(body),
        headers, b"\r\n", body,
    )))
    channel.close()


class LaneChannel(Protocol):
    """
    One connection to the HTTP port: parses request heads and bodies and hands each request
    to the lane, or the whole connection to twisted.web (see the module's description).

    :param lane: the lane serving the requests.
    :param fallback: makes the twisted.web channel taking over the connection.
    :param log: writes the access-log line of an answered request.

    :ivar deadline: when the connection is given up if nothing changes (seconds, the lane's
        clock).
    """

    def __init__(self, lane: RestLane, fallback: Callable[[], IProtocol], log: Callable[[Any], None]) -> None:
        self.lane = lane
        self.secure = False
        self.deadline = float("inf")
        self._make_fallback = fallback
        self._log = log
        self._fallback: Optional[IProtocol] = None
        self._buffer = bytearray()
        self._head: Optional[RequestHead] = None
        self._head_end = 0
        self._current: Optional[LeanRequest] = None
        self._draining = False
        self._paused = False
        self._closing = False

    def connectionMade(self) -> None:
        transport = self.transport
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        self.secure = ISSLTransport.providedBy(transport)
        self.deadline = self.lane.clock.seconds() + self.lane.limits.headers_timeout
        self.lane.opened(self)

    def dataReceived(self, data: bytes) -> None:
        if self._fallback is not None:
            self._fallback.dataReceived(data)
            return
        if self._closing:
            return
        if not self._buffer and self._current is None and self._head is None:
            self.deadline = self.lane.clock.seconds() + self.lane.limits.headers_timeout
        self._buffer += data
        if self._current is None:
            self._serve_buffered()
        elif len(self._buffer) > _READ_AHEAD and not self._paused:
            self._paused = True
            self.transport.pauseProducing()

    def _serve_buffered(self) -> None:
        """
        Serve the complete requests in the buffer, one at a time.
        """
        if self._draining:
            return
        self._draining = True
        try:
            while self._current is None and self._fallback is None and not self._closing and self._buffer:
                if not self._next_request():
                    break
        finally:
            self._draining = False

    def _next_request(self) -> bool:
        """
        Start serving the next buffered request; whether it was complete.
        """
        limits = self.lane.limits
        head = self._head
        if head is None:
            end = self._buffer.find(_END_OF_HEAD, 0, limits.max_header_size + 4)
            if end < 0:
                if len(self._buffer) > limits.max_header_size:
                    refuse(self, 431, f"the request head is larger than {limits.max_header_size} bytes")
                return False
            try:
                head = parse_head(bytes(self._buffer[:end]))
            except Unusual:
                self._hand_over()
                return False
            except BadHead as bad:
                refuse(self, bad.status, bad.reason)
                return False
            if not self.lane.takes(head):
                self._hand_over()
                return False
            if head.content_length > limits.max_body_size:
                refuse(self, 413, f"the request body is larger than {limits.max_body_size} bytes")
                return False
            self._head, self._head_end = head, end + 4
            self.deadline = self.lane.clock.seconds() + limits.request_timeout
        body_end = self._head_end + head.content_length
        if len(self._buffer) < body_end:
            return False
        body = bytes(self._buffer[self._head_end:body_end])
        del self._buffer[:body_end]
        self._head = None
        request = self._current = LeanRequest(self, head, body, self.lane.date())
        self.lane.serve(request)
        return True

    def request_done(self, request: LeanRequest) -> None:
        """
        C{request} was answered: log it, and go on with the next one or close.
        """
        self._log(request)
        self._current = None
        if not request.keep_alive:
            self.close()
            return
        self.deadline = self.lane.clock.seconds() + (
            self.lane.limits.headers_timeout if self._buffer else self.lane.limits.keep_alive_timeout
        )
        if self._paused:
            self._paused = False
            self.transport.resumeProducing()
        self._serve_buffered()

    def expired(self) -> None:
        """
        The deadline passed: refuse what the client was too slow for, or close an idle
        connection.
        """
        limits = self.lane.limits
        if self._current is not None:
            seconds = max(1, round(limits.request_timeout))
            refuse(
                self, 503, f"the request took longer than http.timeout ({seconds} s); a write may still complete",
                b"Retry-After: %d\r\n" % seconds,
            )
        elif self._head is not None:
            refuse(self, 408, f"the request body did not arrive within http.timeout ({limits.request_timeout:g} s)")
        elif self._buffer:
            refuse(self, 408, f"the request head did not arrive within http.headersTimeout ({limits.headers_timeout:g} s)")
        else:
            self.close()

    def close(self) -> None:
        """
        Close the connection once what was written is sent.
        """
        self._closing = True
        self.deadline = float("inf")
        self.lane.closed(self)
        current, self._current = self._current, None
        if current is not None:
            current.connection_lost(Failure(ConnectionDone("closed by harper")))
        if self._paused:
            self._paused = False
            self.transport.resumeProducing()
        self.transport.loseConnection()

    def _hand_over(self) -> None:
        """
        Let twisted.web serve this connection from its next unserved byte on.
        """
        self.lane.closed(self)
        self.deadline = float("inf")
        if self._paused:
            self._paused = False
            self.transport.resumeProducing()
        fallback = self._fallback = self._make_fallback()
        pending, self._buffer, self._head = bytes(self._buffer), bytearray(), None
        fallback.makeConnection(self.transport)
        fallback.dataReceived(pending)

    def connectionLost(self, reason: Failure) -> None:
        self.lane.closed(self)
        if self._fallback is not None:
            self._fallback.connectionLost(reason)
            return
        current, self._current = self._current, None
        if current is not None:
            current.connection_lost(reason)
