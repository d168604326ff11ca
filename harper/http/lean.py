# -*- test-case-name: tests.http.test_lane -*-
"""
The request object of L{harper.http.lane}: the part of twisted.web's C{IRequest} that the
REST API and the resources in front of it use, over a parsed L{RequestHead}, without
twisted.web's header objects or resource traversal.

Header values are read as UTF-8, as twisted.web reads them; a value that is not UTF-8 is a
L{InvalidInput} (a 400), not a crash.
"""

from __future__ import annotations

import io
from typing import Any, Iterable, Iterator, Optional, Union

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.server import version as SERVER_VERSION

from harper.errors import InvalidInput
from harper.http.wire import HTTP_11, RequestHead, field_name, status_line

_NO_BODY = frozenset({204, 304})
_Name = Union[str, bytes]


#: Lower-case bytes of the header names the code asks for (a bounded set: names in code).
_LOWER: dict[_Name, bytes] = {}
#: C{Name: } of the response header names set (by code, so a bounded set), by lower-case name.
_PREFIXES: dict[bytes, bytes] = {}


def _lower(name: _Name) -> bytes:
    lower = _LOWER.get(name)
    if lower is None:
        lower = (name.encode("latin-1") if isinstance(name, str) else name).lower()
        if len(_LOWER) < 4096:
            _LOWER[name] = lower
    return lower


def _as_bytes(value: Union[str, bytes]) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _text(name: bytes, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the {name.decode('latin-1')} header is not valid UTF-8") from None


class FieldView:
    """
    The request's header fields with the reading methods of twisted.web's C{Headers}: the
    values of a name typed like the name (C{str} or C{bytes}).
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[bytes, bytes]) -> None:
        self._fields = fields

    def hasHeader(self, name: _Name) -> bool:
        return _lower(name) in self._fields

    def getRawHeaders(self, name: _Name, default: Any = None) -> Any:
        key = _lower(name)
        value = self._fields.get(key)
        if value is None:
            return default
        return [_text(key, value) if isinstance(name, str) else value]

    def getAllRawHeaders(self) -> Iterator[tuple[bytes, list[bytes]]]:
        return ((field_name(name), [value]) for name, value in self._fields.items())


class ResponseFields:
    """
    The response's header fields with the writing methods of twisted.web's C{Headers}.
    """

    __slots__ = ("_fields",)

    def __init__(self) -> None:
        self._fields: dict[bytes, list[bytes]] = {}

    def setRawHeaders(self, name: _Name, values: Iterable[Union[str, bytes]]) -> None:
        key = _LOWER.get(name) or _lower(name)
        self._fields[key] = [value if type(value) is bytes else _as_bytes(value) for value in values]

    def addRawHeader(self, name: _Name, value: Union[str, bytes]) -> None:
        key = _LOWER.get(name) or _lower(name)
        self._fields.setdefault(key, []).append(value if type(value) is bytes else _as_bytes(value))

    def getRawHeaders(self, name: _Name, default: Any = None) -> Any:
        values = self._fields.get(_lower(name))
        if values is None:
            return default
        return [value.decode("utf-8") for value in values] if isinstance(name, str) else list(values)

    def hasHeader(self, name: _Name) -> bool:
        return (_LOWER.get(name) or _lower(name)) in self._fields

    def removeHeader(self, name: _Name) -> None:
        self._fields.pop(_lower(name), None)

    def encoded(self) -> list[bytes]:
        """
        The fields as the pieces of C{Name: value\\r\\n} lines.
        """
        pieces: list[bytes] = []
        for name, values in self._fields.items():
            prefix = _PREFIXES.get(name)
            if prefix is None:
                prefix = field_name(name) + b": "
                if len(_PREFIXES) < 4096:  # names set by code, but custom resources may set any
                    _PREFIXES[name] = prefix
            for value in values:
                pieces += (prefix, value, b"\r\n")
        return pieces


class LeanRequest:
    """
    One request served by L{harper.http.lane.LaneChannel}.

    The answer is buffered until L{finish} when its length is known, and written in one
    piece; a body written before the length is known (a streamed collection) goes out in
    chunks (HTTP/1.1) or until the connection closes (HTTP/1.0).

    :ivar channel: the connection, or C{None} once the client went away.
    """

    def __init__(self, channel: Any, head: RequestHead, body: bytes, date: bytes) -> None:
        self.channel = channel
        self.method = head.method
        self.uri = head.target
        self.path = head.path
        self.clientproto = head.version
        self.content = io.BytesIO(body)
        self.requestHeaders = FieldView(head.fields)
        self.responseHeaders = ResponseFields()
        self.code = 200
        self.sentLength = 0
        self.finished = False
        self.keep_alive = head.keep_alive
        self._fields = head.fields
        self._date = date
        self._body: list[bytes] = []
        self._started = False
        self._chunked = False
        self._finishing: list[Deferred] = []

    # -- reading ---------------------------------------------------------------------------

    def getHeader(self, name: _Name) -> Any:
        key = _LOWER.get(name) or _lower(name)
        value = self._fields.get(key)
        if value is None or not isinstance(name, str):
            return value
        return _text(key, value)

    def getClientAddress(self) -> Any:
        return self.channel.transport.getPeer() if self.channel is not None else None

    def isSecure(self) -> bool:
        return self.channel is not None and self.channel.secure

    # -- answering -------------------------------------------------------------------------

    def setResponseCode(self, code: int, message: Optional[bytes] = None) -> None:
        self.code = code

    def setHeader(self, name: _Name, value: Union[str, bytes]) -> None:
        key = _LOWER.get(name) or _lower(name)
        self.responseHeaders._fields[key] = [value if type(value) is bytes else _as_bytes(value)]

    def write(self, data: bytes) -> None:
        if self.finished:
            raise RuntimeError("write() after finish()")
        if self.channel is None:
            return
        if not self._started and self.responseHeaders.hasHeader(b"content-length"):
            self._body.append(data)
            return
        if not self._started:
            self._start()
        self.sentLength += len(data)
        if not data or self.method == b"HEAD" or self.code in _NO_BODY:
            return
        self.channel.transport.write(b"%x\r\n%s\r\n" % (len(data), data) if self._chunked else data)

    def _start(self, body: bytes = b"") -> None:
        """
        Write the status line and the header fields (and C{body}, when the whole answer is
        known), deciding how the body is framed.
        """
        self._started = True
        fields = self.responseHeaders
        if not fields.hasHeader(b"content-length") and self.code not in _NO_BODY and self.method != b"HEAD":
            if self.finished:
                fields.setRawHeaders(b"content-length", [b"%d" % len(body)])
            elif self.clientproto == HTTP_11:
                fields.setRawHeaders(b"transfer-encoding", [b"chunked"])
                self._chunked = True
            else:
                self.keep_alive = False  # the end of the body is the end of the connection
        if self.clientproto != HTTP_11 and self.keep_alive:
            fields.setRawHeaders(b"connection", [b"keep-alive"])
        elif not self.keep_alive:
            fields.setRawHeaders(b"connection", [b"close"])
        head = [status_line(self.clientproto, self.code), b"Server: ", SERVER_VERSION, b"\r\nDate: ", self._date, b"\r\n"]
        head.extend(fields.encoded())
        head.append(b"\r\n")
        if body and self.method != b"HEAD" and self.code not in _NO_BODY:
            head.append(body)
            self.sentLength += len(body)
        self.channel.transport.write(b"".join(head))

    def finish(self) -> None:
        if self.finished:
            raise RuntimeError("finish() called twice")
        self.finished = True
        channel = self.channel
        if channel is None:
            return
        if not self._started:
            self._start(b"".join(self._body))
        elif self._chunked:
            channel.transport.write(b"0\r\n\r\n")
        for waiting in self._finishing:
            waiting.callback(None)
        self._finishing = []
        channel.request_done(self)

    def notifyFinish(self) -> Deferred:
        """
        A Deferred that fires when the answer is written, or fails when the client goes away
        first.
        """
        finished = Deferred()
        if self.finished:
            finished.callback(None)
        else:
            self._finishing.append(finished)
        return finished

    def connection_lost(self, reason: Failure) -> None:
        """
        The client went away before the answer was written.
        """
        self.channel = None
        waiting, self._finishing = self._finishing, []
        for finished in waiting:
            finished.errback(reason)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        if self.channel is not None:
            self.channel.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        if self.channel is not None:
            self.channel.transport.unregisterProducer()
