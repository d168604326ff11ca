# -*- test-case-name: tests.pubsub.test_payloads -*-
"""
Message payloads of real-time transports: record values to bytes and back in JSON (the
default), CBOR or MessagePack, chosen by a media type (an MQTT 5 content type, or the
C{Content-Type} of a WebSocket upgrade request).
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, Optional

import cbor2
import msgpack
import orjson

from harper.errors import InvalidInput

JSON = "application/json"
CBOR = "application/cbor"
MSGPACK = "application/x-msgpack"

_ALIASES = {
    "application/json": JSON,
    "text/json": JSON,
    "application/cbor": CBOR,
    "application/x-msgpack": MSGPACK,
    "application/msgpack": MSGPACK,
    "application/vnd.msgpack": MSGPACK,
}


class UnsupportedContentType(InvalidInput):
    """
    A payload of a media type harper cannot read or write.
    """


def media_type(content_type: Optional[str]) -> str:
    """
    The canonical media type for C{content_type} (JSON when C{None} or empty).

    :raises UnsupportedContentType: for a type other than JSON, CBOR and MessagePack.
    """
    if not content_type:
        return JSON
    base = content_type.split(";", 1)[0].strip().lower()
    canonical = _ALIASES.get(base)
    if canonical is None:
        if base.endswith("+json"):
            return JSON
        raise UnsupportedContentType(
            f"content type {base!r} is not supported: use application/json, application/cbor "
            f"or application/x-msgpack"
        )
    return canonical


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    JSON: lambda value: orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS),
    CBOR: lambda value: cbor2.dumps(value, datetime_as_timestamp=False, timezone=datetime.timezone.utc),
    MSGPACK: lambda value: msgpack.packb(value, default=_msgpack_default),
}

_DECODERS: dict[str, Callable[[bytes], Any]] = {
    JSON: orjson.loads,
    CBOR: cbor2.loads,
    MSGPACK: lambda data: msgpack.unpackb(data, raw=False, strict_map_key=False),
}


def encode_payload(value: Any, content_type: Optional[str] = None) -> bytes:
    """
    Encode C{value} in C{content_type} (JSON by default).

    :raises UnsupportedContentType: the type is not supported.
    :raises InvalidInput: the value has no representation in that type.
    """
    kind = media_type(content_type)
    try:
        return _ENCODERS[kind](value)
    except (TypeError, ValueError, cbor2.CBOREncodeError) as error:
        raise InvalidInput(f"cannot encode the value as {kind}: {error}") from None


def decode_payload(data: bytes, content_type: Optional[str] = None) -> Any:
    """
    Decode C{data} written in C{content_type} (JSON by default).

    :raises UnsupportedContentType: the type is not supported.
    :raises InvalidInput: C{data} is not valid in that type.
    """
    kind = media_type(content_type)
    try:
        return _DECODERS[kind](data)
    except Exception as error:
        raise InvalidInput(f"the payload is not valid {kind}: {error}") from None
