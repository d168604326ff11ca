# -*- test-case-name: tests.http.test_rest -*-
"""
Request body decoding and response encoding (JSON here; the REST issue adds the others).
"""

from __future__ import annotations

import base64
import datetime
from typing import Any, Optional

import orjson

from harper.errors import InvalidInput
from harper.http.errors import UnsupportedMediaType

JSON = "application/json"


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_json(value: Any) -> bytes:
    """
    Encode C{value} as JSON (dates as ISO 8601, bytes as base64).
    """
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def decode_body(content_type: Optional[str], body: bytes) -> Any:
    """
    Decode a request body by its C{Content-Type} (JSON when absent).

    :raises UnsupportedMediaType: for a content type harper does not decode.
    :raises InvalidInput: for a body that is not valid in its content type.
    """
    media_type = (content_type or JSON).split(";", 1)[0].strip().lower()
    if media_type not in (JSON, "text/json") and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"cannot read a request body of type {media_type}")
    if not body.strip():
        raise InvalidInput("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"the request body is not valid JSON: {error}") from None
