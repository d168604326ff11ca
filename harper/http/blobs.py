# -*- test-case-name: tests.http.test_blobs -*-
"""
Bodies of media types that are not records (an image, a PDF, a text note) stored as they came
and served back as they are.

A request body of such a type is handed to the resource as the record C{{"contentType": <the
request's Content-Type>, "data": <the bytes>}} (text types as a string, decoded by their
charset), so a table stores it like any other record. A record (or custom resource answer)
holding a C{contentType} text and C{data} bytes or text is sent back as its bytes, under that
C{Content-Type}, to a client that accepts the type (C{Accept} naming it, its C{type/*} range,
C{*/*}, or no C{Accept}) at least as much as any record encoding; asking for a record encoding
(C{Accept: application/json}, a C{.json} suffix) gets the record itself.

Structured types harper could be expected to read as records but does not (XML, YAML, CSV,
multipart forms) are refused with a 415 rather than stored as opaque bytes.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from twisted.web.iweb import IRequest

from harper.http.codecs import BODY_DECODERS, RESPONSE_CODECS, Codec
from harper.http.encoding import decode_body
from harper.http.errors import NotAcceptable
from harper.http.negotiation import media_type, parse_accept, response_codec, split_suffix
from harper.http.responses import send

#: The record attribute holding a blob's media type.
CONTENT_TYPE = "contentType"
#: The record attribute holding a blob's bytes (or text).
DATA = "data"

_REFUSED = frozenset({
    "application/xml", "text/xml", "text/yaml", "application/yaml", "application/x-yaml",
    "text/csv", "multipart/form-data",
})
_ANY = frozenset({"*/*", "*"})
_CODEC_TYPES = frozenset(name for codec in RESPONSE_CODECS for name in codec.names)
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;[\x20-\x7e]*)?$")


def _is_stored_as_blob(name: str) -> bool:
    if not name or name in BODY_DECODERS or name in _REFUSED:
        return False
    return not (name.endswith("+json") or name.endswith("+xml"))


def decode_request_body(content_type: Optional[str], body: bytes) -> Any:
    """
    A request body as the value handed to the resource: decoded when harper reads its type
    (L{harper.http.encoding.decode_body}), otherwise the blob record
    C{{"contentType": ..., "data": ...}}.

    :raises UnsupportedMediaType: for a structured type harper does not read.
    :raises InvalidInput: for a body that is not valid in a type harper reads.
    """
    if content_type is None or not _is_stored_as_blob(media_type(content_type)):
        return decode_body(content_type, body)
    return {CONTENT_TYPE: content_type.strip(), DATA: body}


def blob_of(value: Any) -> Optional[tuple[str, bytes]]:
    """
    The media type and bytes of C{value} when it is a blob record, else C{None}.
    """
    if not isinstance(value, Mapping):
        return None
    kind, data = value.get(CONTENT_TYPE), value.get(DATA)
    if not isinstance(kind, str) or not _SAFE_TYPE.match(kind):
        return None
    if isinstance(data, str):
        return kind, data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return kind, bytes(data)
    return None


def prefers_blob(accept: Optional[str], kind: str) -> bool:
    """
    Whether a client sending C{Accept: accept} should get a blob of type C{kind} as it is:
    it accepts the type (exactly, by its C{type/*} range or by C{*/*}) with a q-value at
    least that of every record encoding it names.
    """
    if not accept:
        return True
    name = media_type(kind)
    family = name.split("/", 1)[0] + "/*"
    blob_quality, specificity, codec_quality = 0.0, -1, 0.0
    for accepted, quality in parse_accept(accept):
        rank = 2 if accepted == name else 1 if accepted == family else 0 if accepted in _ANY else -1
        if rank > specificity:
            blob_quality, specificity = quality, rank
        if accepted in _CODEC_TYPES and accepted != name:
            codec_quality = max(codec_quality, quality)
    return specificity >= 0 and blob_quality > 0 and blob_quality >= codec_quality


def is_record_path(remainder: Optional[str]) -> bool:
    """
    Whether the path below a resource (see L{harper.http.targets.resolve}) names one record.
    """
    return bool(remainder) and not remainder.endswith("/")


def _refusal(error: NotAcceptable) -> Codec:
    def refuse(value: Any) -> Any:
        raise error

    return Codec("application/json", 0.0, refuse, refuse)


def answer_codec(accept: Optional[str], suffix: Optional[str], record_read: bool) -> Codec:
    """
    The codec answering a request (L{harper.http.negotiation.response_codec}). For the read
    of one record, an C{Accept} no codec satisfies may still be satisfied by a blob: the
    codec returned then fails with L{NotAcceptable} (406) only if the answer is not one.
    """
    try:
        return response_codec(accept, suffix)
    except NotAcceptable as error:
        if not record_read:
            raise
        return _refusal(error)


def send_blob(request: IRequest, result: Any, threshold: int) -> bool:
    """
    Answer C{request} with C{result}'s bytes if it is a blob the client prefers as it is
    (and the path has no encoding suffix); whether it did.
    """
    blob = blob_of(result) if isinstance(result, Mapping) and CONTENT_TYPE in result else None
    if blob is None or not prefers_blob(request.getHeader("accept"), blob[0]):
        return False
    if split_suffix(request.path.decode("latin-1"))[1] is not None:
        return False
    kind, data = blob
    request.setHeader(b"content-type", kind.encode("ascii"))
    # Images, archives and the like are compressed already: only text is worth gzip.
    send(request, 200, data, None, threshold if kind.startswith("text/") else len(data))
    return True
