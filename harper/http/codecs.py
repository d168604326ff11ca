# -*- test-case-name: tests.http.test_codecs -*-
"""
The media types harper writes and reads: each L{Codec} encodes one value, encodes a sequence
of values chunk by chunk (so collections are never built whole), and, for the types a request
body may have, decodes.

Collections are a JSON array, an indefinite-length CBOR array, a concatenation of
MessagePack values (no wrapper, as Harper sends them), CSV rows under a header taken from the
first record, or a YAML list.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional
from urllib.parse import parse_qsl

import attr
import cbor2
import msgpack
import orjson
import yaml

from harper.errors import InvalidInput

#: Encoded pieces of a sequence are joined into chunks of about this many bytes.
CHUNK_SIZE = 16384

Encode = Callable[[Any], bytes]
EncodeSequence = Callable[[Iterable[Any]], Iterator[bytes]]
Decode = Callable[[bytes], Any]


@attr.frozen
class Codec:
    """
    One media type.

    :ivar media_type: the C{Content-Type} it answers with.
    :ivar preference: the server's weight when negotiating (Harper's: CBOR 1.0, MessagePack
        0.9, JSON 0.8, YAML 0.7, text 0.2, CSV 0.1).
    :ivar encode: one value to bytes.
    :ivar encode_sequence: an iterable of values to chunks of bytes.
    :ivar decode: request body bytes to a value, or C{None} for a type harper does not read.
    :ivar suffix: the path suffix (C{.csv}) selecting this type, if any.
    :ivar aliases: other media types naming the same encoding.
    :ivar attachment: the file name to offer in C{Content-Disposition}, if any.
    """

    media_type: str
    preference: float
    encode: Encode
    encode_sequence: EncodeSequence
    decode: Optional[Decode] = None
    suffix: Optional[str] = None
    aliases: tuple[str, ...] = ()
    attachment: Optional[str] = None

    @property
    def names(self) -> tuple[str, ...]:
        """
        Every media type this codec answers to.
        """
        return (self.media_type,) + self.aliases


def _chunked(pieces: Iterable[bytes], opening: bytes = b"", closing: bytes = b"") -> Iterator[bytes]:
    """
    Join small encoded pieces into chunks of about L{CHUNK_SIZE} bytes.
    """
    buffer, size = [opening], len(opening)
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_SIZE:
            yield b"".join(buffer)
            buffer, size = [], 0
    buffer.append(closing)
    yield b"".join(buffer)


# -- JSON --------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode_json(value: Any) -> bytes:
    """
    Encode C{value} as JSON (dates as ISO 8601, bytes as base64).
    """
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS)


def _json_sequence(values: Iterable[Any]) -> Iterator[bytes]:
    def pieces() -> Iterator[bytes]:
        separator = b""
        for value in values:
            yield separator + encode_json(value)
            separator = b","

    return _chunked(pieces(), b"[", b"]")


def _decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"the request body is not valid JSON: {error}") from None


# -- CBOR --------------------------------------------------------------------------------


def _cbor_default(encoder: Any, value: Any) -> None:
    if isinstance(value, (set, frozenset)):
        encoder.encode(list(value))
        return
    raise TypeError(f"cannot encode {type(value).__name__}")


def _encode_cbor(value: Any) -> bytes:
    return cbor2.dumps(value, default=_cbor_default, timezone=datetime.timezone.utc, date_as_datetime=True)


def _cbor_sequence(values: Iterable[Any]) -> Iterator[bytes]:
    return _chunked((_encode_cbor(value) for value in values), b"\x9f", b"\xff")


def _decode_cbor(body: bytes) -> Any:
    try:
        return cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError, EOFError) as error:
        raise InvalidInput(f"the request body is not valid CBOR: {error}") from None


# -- MessagePack -------------------------------------------------------------------------


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=datetime.timezone.utc) if value.tzinfo is None else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


_PACKER_OPTIONS = {"default": _msgpack_default, "datetime": True}


def _encode_msgpack(value: Any) -> bytes:
    return msgpack.packb(value, **_PACKER_OPTIONS)


def _msgpack_sequence(values: Iterable[Any]) -> Iterator[bytes]:
    packer = msgpack.Packer(**_PACKER_OPTIONS)
    return _chunked(packer.pack(value) for value in values)


def _decode_msgpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, timestamp=3, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        # TypeError: a map or an array as the key of a map (found by fuzzing).
        reason = str(error) or type(error).__name__
        raise InvalidInput(f"the request body is not valid MessagePack: {reason}") from None


# -- CSV ---------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, datetime.date):
        return value.isoformat()
    return encode_json(value).decode("utf-8")


def _csv_sequence(values: Iterable[Any]) -> Iterator[bytes]:
    """
    CSV rows: a header of the first record's attribute names (or C{value} for bare values),
    then one row per value; nested values are written as JSON.
    """

    def pieces() -> Iterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        columns: Optional[list] = None
        for value in values:
            if columns is None:
                columns = list(value) if isinstance(value, Mapping) else ["value"]
                writer.writerow(columns)
            if isinstance(value, Mapping):
                writer.writerow([_csv_cell(value.get(column)) for column in columns])
            elif isinstance(value, (list, tuple)):
                writer.writerow([_csv_cell(item) for item in value])
            else:
                writer.writerow([_csv_cell(value)])
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()

    return _chunked(pieces())


def _encode_csv(value: Any) -> bytes:
    rows = value if isinstance(value, (list, tuple)) else [value]
    return b"".join(_csv_sequence(rows))


# -- YAML --------------------------------------------------------------------------------


class _YamlDumper(yaml.SafeDumper):
    """
    The safe YAML dumper, also writing tuples and sets as lists.
    """


_YamlDumper.add_representer(tuple, _YamlDumper.represent_list)
_YamlDumper.add_representer(frozenset, lambda dumper, value: dumper.represent_list(sorted(value, key=repr)))
_YamlDumper.add_representer(set, lambda dumper, value: dumper.represent_list(sorted(value, key=repr)))


def _encode_yaml(value: Any) -> bytes:
    return yaml.dump(value, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True).encode("utf-8")


def _yaml_sequence(values: Iterable[Any]) -> Iterator[bytes]:
    def pieces() -> Iterator[bytes]:
        empty = True
        for value in values:
            empty = False
            yield _encode_yaml([value])
        if empty:
            yield b"[]\n"

    return _chunked(pieces())


# -- text and forms ----------------------------------------------------------------------


def _encode_text(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else encode_json(value)


def _decode_form(body: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInput(f"the request body is not a valid form: {error}") from None
    form: dict[str, Any] = {}
    for name, value in pairs:
        if name in form:
            previous = form[name]
            form[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            form[name] = value
    return form


def _not_written(values: Any) -> Any:
    raise TypeError("this media type is only read")


JSON_CODEC = Codec("application/json", 0.8, encode_json, _json_sequence, _decode_json, ".json", ("text/json",))
CBOR_CODEC = Codec("application/cbor", 1.0, _encode_cbor, _cbor_sequence, _decode_cbor, ".cbor")
MSGPACK_CODEC = Codec(
    "application/x-msgpack", 0.9, _encode_msgpack, _msgpack_sequence, _decode_msgpack, ".msgpack",
    ("application/msgpack", "application/vnd.msgpack"),
)
YAML_CODEC = Codec("text/yaml", 0.7, _encode_yaml, _yaml_sequence, None, None, ("application/yaml", "application/x-yaml"))
TEXT_CODEC = Codec("text/plain", 0.2, _encode_text, _json_sequence)
CSV_CODEC = Codec("text/csv", 0.1, _encode_csv, _csv_sequence, None, ".csv", attachment="data.csv")
FORM_CODEC = Codec("application/x-www-form-urlencoded", 0.0, _not_written, _not_written, _decode_form)

#: The codecs that write responses, in order of the server's preference.
RESPONSE_CODECS: tuple[Codec, ...] = (CBOR_CODEC, MSGPACK_CODEC, JSON_CODEC, YAML_CODEC, TEXT_CODEC, CSV_CODEC)

#: Media type (lower case) to the codec that reads request bodies of that type.
BODY_DECODERS: dict[str, Codec] = {
    name: codec
    for codec in (JSON_CODEC, CBOR_CODEC, MSGPACK_CODEC, FORM_CODEC)
    for name in codec.names
}

#: Path suffix to the codec it selects.
SUFFIXES: dict[str, Codec] = {codec.suffix: codec for codec in RESPONSE_CODECS if codec.suffix}
