# -*- test-case-name: tests.http.test_rest -*-
"""
Writing REST answers: status, headers, an encoded body (gzip-compressed above the threshold
when the client accepts it), nothing but headers for C{HEAD}; and the C{{status, headers,
data}} answers custom resources may return to take control of the response.
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping, Optional

import attr
from twisted.web.iweb import IRequest

from harper.http.codecs import Codec
from harper.http.negotiation import accepts_gzip

_VARY = b"Accept, Accept-Encoding"
#: zlib compression level of gzip answers (speed over size).
GZIP_LEVEL = 6
_NO_BODY = frozenset({204, 304})
_CONTROL_KEYS = frozenset({"status", "headers", "data", "body"})


@attr.frozen
class Answer:
    """
    A response a custom resource asked for with C{{"status": ..., "headers": ...,
    "data": ...}} (C{data} is encoded in the negotiated type) or C{"body"} (bytes or text sent
    as they are).
    """

    status: int
    headers: Mapping[str, str]
    data: Any = None
    body: Optional[bytes] = None

    @classmethod
    def from_result(cls, result: Any) -> Optional["Answer"]:
        """
        The answer C{result} describes, or C{None} when it is plain data.
        """
        if not isinstance(result, Mapping) or not isinstance(result.get("status"), int):
            return None
        if not _CONTROL_KEYS.issuperset(result):
            return None
        body = result.get("body")
        if isinstance(body, str):
            body = body.encode("utf-8")
        return cls(result["status"], dict(result.get("headers") or {}), result.get("data"), body)


def gzip(data: bytes) -> bytes:
    """
    C{data} compressed in the gzip format.
    """
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def start(request: IRequest, status: int, codec: Optional[Codec]) -> None:
    """
    Set the status and the content headers of an answer in C{codec}'s media type.
    """
    request.setResponseCode(status)
    headers = request.responseHeaders
    if codec is not None:
        headers.setRawHeaders(b"content-type", [codec.media_type.encode("ascii")])
        if codec.attachment is not None:
            disposition = f'attachment; filename="{codec.attachment}"'.encode("ascii")
            headers.setRawHeaders(b"content-disposition", [disposition])
    headers.addRawHeader(b"vary", _VARY)


def send(request: IRequest, status: int, body: bytes, codec: Optional[Codec], threshold: int) -> None:
    """
    Finish C{request} with C{status} and C{body} in C{codec}'s media type (no
    C{Content-Type} when C{codec} is C{None}, for empty bodies).

    :param threshold: bodies longer than this are gzip-compressed when the client accepts it.
    """
    if request.channel is None:
        return  # the client went away while the answer was computed
    start(request, status, codec)
    headers = request.responseHeaders
    if status in _NO_BODY:
        request.finish()
        return
    if len(body) > threshold and accepts_gzip(request.getHeader("accept-encoding")):
        body = gzip(body)
        headers.setRawHeaders(b"content-encoding", [b"gzip"])
    headers.setRawHeaders(b"content-length", [b"%d" % len(body)])
    if body and request.method != b"HEAD":
        request.write(body)
    request.finish()
