# -*- test-case-name: tests.http.test_wire -*-
"""
HTTP/1.x request heads and response heads as bytes, for L{harper.http.lane}.

L{parse_head} reads the head of one request (the request line and the header fields, up to
the blank line) into a L{RequestHead}. It is deliberately narrow: a head it cannot read
exactly (folded or repeated fields, an absolute-form target, a bare LF line ending) is not
an error but L{Unusual}, and the connection is served by twisted.web's full HTTP
implementation instead. Only heads that are wrong in every reading raise L{BadHead}.
"""

from __future__ import annotations

from typing import Optional

from twisted.web.http import RESPONSES

HTTP_11 = b"HTTP/1.1"
HTTP_10 = b"HTTP/1.0"
_VERSIONS = frozenset({HTTP_11, HTTP_10})
_DIGITS = frozenset(b"0123456789")
_TOKEN_BREAKERS = frozenset(b" \t\r\n\x00\x0b\x0c")


class BadHead(Exception):
    """
    A request head no reading makes sense of; answered with L{status} and the connection
    closed.

    :ivar status: the HTTP status of the answer (400, or 505 for an unknown version).
    :ivar reason: what is wrong, for the client.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Unusual(Exception):
    """
    A request head this parser leaves to twisted.web.
    """


class RequestHead:
    """
    The head of one HTTP/1.x request.

    :ivar method: the method, as sent (case matters in HTTP).
    :ivar target: the request target (path and query string), as sent.
    :ivar path: the target without its query string.
    :ivar version: C{HTTP/1.1} or C{HTTP/1.0}.
    :ivar fields: the header fields by lower-case name; each name appears once.
    :ivar content_length: the length of the body (0 without C{Content-Length}).
    :ivar keep_alive: whether the client keeps the connection for another request.
    """

    __slots__ = ("method", "target", "path", "version", "fields", "content_length", "keep_alive")

    def __init__(self, method: bytes, target: bytes, version: bytes, fields: dict[bytes, bytes]) -> None:
        self.method = method
        self.target = target
        self.path = target.split(b"?", 1)[0]
        self.version = version
        self.fields = fields
        self.content_length = _content_length(fields.get(b"content-length"))
        connection = fields.get(b"connection", b"").lower()
        if version == HTTP_11:
            self.keep_alive = b"close" not in connection
        else:
            self.keep_alive = b"keep-alive" in connection


def _content_length(value: Optional[bytes]) -> int:
    if value is None:
        return 0
    if not value or not _DIGITS.issuperset(value) or len(value) > 18:
        raise BadHead(400, "Content-Length is not a number of bytes")
    return int(value)


def parse_head(block: bytes) -> RequestHead:
    """
    The request head in C{block} (without the blank line that ends it).

    :raises BadHead: for a head that is wrong whatever reads it.
    :raises Unusual: for a head that twisted.web should read.
    """
    lines = block.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise Unusual()
    method, target, version = parts
    if version not in _VERSIONS:
        if version.startswith(b"HTTP/"):
            raise BadHead(505, "harper speaks HTTP/1.0 and HTTP/1.1")
        raise Unusual()
    if not target.startswith(b"/") or not method or _TOKEN_BREAKERS.intersection(method):
        raise Unusual()
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or _TOKEN_BREAKERS.intersection(name) or b"\n" in value or b"\r" in value:
            raise Unusual()  # folded, malformed or LF-terminated fields
        name = name.lower()
        if name in fields:
            raise Unusual()  # repeated fields: twisted.web keeps every value
        fields[name] = value.strip(b" \t")
    return RequestHead(method, target, version, fields)


_STATUS_LINES: dict[tuple[bytes, int], bytes] = {}
_NAMES: dict[bytes, bytes] = {}
#: How many header names L{field_name} remembers.
_REMEMBERED = 4096


def status_line(version: bytes, status: int) -> bytes:
    """
    C{HTTP/1.1 200 OK\\r\\n}, remembered per version and status.
    """
    line = _STATUS_LINES.get((version, status))
    if line is None:
        reason = RESPONSES.get(status, b"Unknown Status")
        line = _STATUS_LINES[version, status] = b"%s %d %s\r\n" % (version, status, reason)
    return line


def field_name(name: bytes) -> bytes:
    """
    The canonical capitalisation of a lower-case header name (C{content-type} to
    C{Content-Type}), remembered.
    """
    canonical = _NAMES.get(name)
    if canonical is None:
        canonical = b"-".join(part.capitalize() for part in name.split(b"-"))
        if len(_NAMES) < _REMEMBERED:  # request field names come from clients: bounded
            _NAMES[name] = canonical
    return canonical
