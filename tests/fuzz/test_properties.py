"""
Property-based fuzzing (hypothesis) of the parsers that read client input, through the shared
targets of L{tests.fuzz.targets}: random bytes and input shaped like each language, and for
every example only the parser's own errors come out, within a deadline (no hang).

The MQTT codec has its own, deeper properties in L{tests.mqtt.test_properties}; here it gets
the same random-bytes treatment as the others. Examples are derived from the test names
(C{derandomize}), so a run is reproducible in CI.
"""

from __future__ import annotations

from datetime import timedelta

import cbor2
import msgpack
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import TestCase

from harper.mqtt.codec import encode
from harper.mqtt.packets import MQTT_3_1_1, MQTT_5
from tests.fuzz.targets import TARGETS
from tests.mqtt.test_properties import packets

#: Each example must finish in 2 s (far above what any takes) or the test fails: a hang.
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=2), derandomize=True, database=None)

#: Bytes that select a variant (first byte) followed by the input proper.
BYTES = st.binary(max_size=200)


_HTTP_PIECES = st.sampled_from([
    "GET /Dog/1 HTTP/1.1\r\n", "PUT /Dog/2 HTTP/1.1\r\n", "HEAD / HTTP/1.0\r\n", "GET /s/x HTTP/1.1\r\n",
    "BREW /x HTTP/1.1\r\n", "GET /x HTTP/2.0\r\n", "GET  HTTP/1.1\r\n", "Content-Length: 5\r\n",
    "Content-Length: 999\r\n", "Content-Length: x\r\n", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n",
    "Upgrade: websocket\r\n", "Connection: close\r\n", "Connection: keep-alive\r\n", "Accept: \xe9\r\n",
    " folded\r\n", "X:\r\n", ":\r\n", "\r\n", "\n", "hello", "Expect: 100-continue\r\n",
])


def _joined(pieces: st.SearchStrategy[str], separators: str) -> st.SearchStrategy[bytes]:
    """
    Fragments of a language, each followed by one of C{separators} or by nothing, as UTF-8.
    """
    after = st.sampled_from(["", *separators])
    return st.lists(st.tuples(pieces, after), max_size=30).map(
        lambda parts: "".join(piece + separator for piece, separator in parts).encode("utf-8")
    )


def _mangled(draw: st.DrawFn, data: bytes) -> bytes:
    """
    C{data} as it is, cut short, or with one byte changed.
    """
    changed = bytearray(data)
    mangle = draw(st.sampled_from(["keep", "cut", "flip"]))
    if mangle == "cut" and changed:
        del changed[draw(st.integers(0, len(changed) - 1)):]
    elif mangle == "flip" and changed:
        changed[draw(st.integers(0, len(changed) - 1))] = draw(st.integers(0, 255))
    return bytes(changed)


_QUERY_PIECES = st.sampled_from([
    "name", "breedId", "breed.name", "=", "==", "!=", "<", ">=", "=gt=", "=ge=", "=lt=", "=ct=",
    "=sw=", "=ew=", "&", "|", "(", ")", "[", "]", ",", "*", "limit(", "select(", "sort(",
    "offset(", "-", "+", "{", "}", "number:", "date:", "string:", "boolean:", "1", "2.5", "1e309",
    "true", "null", "%20", "%26", "%", "%zz", "%C3%A9", "2024-01-01", "..", ":", "\u00e9",
])
_SDL_PIECES = st.sampled_from([
    "type", "Dog", "Breed", "@table", "@export", "@primaryKey", "@indexed", "@sealed",
    "@relationship", "@computed", "@createdTime", "@updatedTime", "@expiresAt", "@table(expiration: 1)",
    "(", ")", "{", "}", "[", "]", ":", "!", "=", ",", "ID", "Int", "String", "Float", "Date",
    "Boolean", "Any", "Bytes", "Long", "id", "name", "breedId", "from:", "to:", '"breedId"',
    '"age * 7"', "interface", "enum", "input", "scalar", "extend", "#", "\"\"\"", "\n",
])
_CSV_PIECES = st.sampled_from([
    "id", "name", "age", "born", "alive", "tags", "extra", "", "1", "x", "2020-01-01", "true",
    '"', '""', "[1,2]", "{", "null", "1e400", "-0", "nan", " ", "\u00e9",
])

#: JSON-like values, the documents clients send (integers that all three encoders write).
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_ENCODINGS = [
    (b"\x01", orjson.dumps), (b"\x02", cbor2.dumps), (b"\x03", msgpack.packb),
]


@st.composite
def encoded_documents(draw: st.DrawFn) -> bytes:
    """
    A valid document in JSON, CBOR or MessagePack (first byte selecting its content type, as
    in the body target), often cut short or with a byte changed.
    """
    prefix, dump = draw(st.sampled_from(_ENCODINGS))
    return prefix + _mangled(draw, dump(draw(VALUES)))


@st.composite
def mqtt_streams(draw: st.DrawFn) -> bytes:
    """
    Valid MQTT packets of one protocol level for a client-side decoder of that level (first
    byte, as in the MQTT target), often cut short or with a byte changed.
    """
    index = draw(st.sampled_from([1, 2]))
    level = (MQTT_3_1_1, MQTT_5)[index - 1]
    sent = draw(st.lists(packets(level), min_size=1, max_size=3))
    return bytes([index]) + _mangled(draw, b"".join(encode(packet, level) for packet in sent))


@st.composite
def operation_bodies(draw: st.DrawFn) -> bytes:
    """
    A JSON operations-API body: an object naming a known, unknown or mistyped operation, with
    random other fields.
    """
    body = draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=4))
    body["operation"] = draw(
        st.sampled_from(["describe_all", "insert", "search_by_value", "sql", "csv_data_load"])
        | VALUES
    )
    return b"\x01" + orjson.dumps(body)


class ParserFuzzTests(TestCase):
    """
    Whatever a client sends, each parser answers or raises its own error, in bounded time.
    """

    @FUZZ
    @given(BYTES | mqtt_streams())
    def test_mqtt_codec(self, data: bytes) -> None:
        """
        Random bytes, and valid, truncated and corrupted packet streams, into the MQTT decoder
        raise nothing but L{MalformedPacket}.
        """
        TARGETS["mqtt"](data)

    @FUZZ
    @given(BYTES | _joined(_QUERY_PIECES, "&|=,"))
    def test_query_string(self, data: bytes) -> None:
        """
        Random bytes and query-language fragments raise nothing but L{QuerySyntaxError}.
        """
        TARGETS["query"](data)

    @FUZZ
    @given(BYTES | _joined(_SDL_PIECES, " \n"))
    def test_sdl_schema(self, data: bytes) -> None:
        """
        Random bytes and SDL fragments raise nothing but L{SchemaError}.
        """
        TARGETS["sdl"](data)

    @FUZZ
    @given(BYTES | encoded_documents())
    def test_body_decoders(self, data: bytes) -> None:
        """
        Random, truncated and corrupted JSON, CBOR, MessagePack and form bodies raise nothing
        but L{InvalidInput}.
        """
        TARGETS["body"](data)

    @FUZZ
    @given(BYTES | _joined(_CSV_PIECES, ",\n\r\""))
    def test_csv_rows(self, data: bytes) -> None:
        """
        Random bytes and CSV fragments (quotes, short and long rows, values of the wrong
        type) raise nothing but L{InvalidInput}.
        """
        TARGETS["csv"](data)

    @FUZZ
    @given(BYTES | operation_bodies() | encoded_documents())
    def test_operations_request(self, data: bytes) -> None:
        """
        Random bodies and JSON objects naming real, unknown or mistyped operations raise
        nothing but harper errors.
        """
        TARGETS["operations"](data)

    @FUZZ
    @given(BYTES | _joined(_HTTP_PIECES, "").map(lambda data: b"\x07" + data))
    def test_http_requests(self, data: bytes) -> None:
        """
        Random bytes and streams of request pieces (good and bad request lines, lengths,
        bodies, fields that hand the connection to twisted.web) cut anywhere never make the
        HTTP port raise.
        """
        TARGETS["http"](data)
