# -*- test-case-name: tests.http.test_codecs -*-
"""
Request bodies to values and values to JSON: the small API the HTTP front ends share (the
REST routes and the operations API).
"""

from __future__ import annotations

from typing import Any, Optional

from harper.errors import InvalidInput
from harper.http.codecs import JSON_CODEC, encode_json
from harper.http.negotiation import body_codec

__all__ = ["JSON", "decode_body", "encode_json"]

JSON = JSON_CODEC.media_type


def decode_body(content_type: Optional[str], body: bytes) -> Any:
    """
    Decode a request body by its C{Content-Type} (JSON when absent): JSON, CBOR,
    MessagePack or a URL-encoded form.

    :raises UnsupportedMediaType: for a content type harper does not decode.
    :raises InvalidInput: for an empty body or one that is not valid in its content type.
    """
    codec = body_codec(content_type)
    if not body:
        raise InvalidInput("the request body is empty")
    assert codec.decode is not None
    return codec.decode(body)
