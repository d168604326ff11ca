"""
The parsers that read what clients send, as fuzz targets: each target takes arbitrary bytes,
runs one parser over them and lets through only the errors that parser is documented to
raise. Any other exception escapes the target, and the fuzzer (hypothesis in
L{tests.fuzz.test_properties}, atheris in L{tests.fuzz.atheris_run}) reports it.

The targets are plain functions so that both fuzzers share them and so that a crashing input
can be replayed as a regression test (L{tests.fuzz.test_regressions}).
"""

from __future__ import annotations

import io
from typing import Any, Callable, Optional

import attr
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web import resource
from twisted.web.test.requesthelper import DummyRequest

from harper.errors import HarperError, InvalidInput, QuerySyntaxError, SchemaError
from harper.http.encoding import decode_body
from harper.http.lane import LaneLimits, RestLane
from harper.http.site import make_site
from harper.mqtt.codec import MQTTDecoder
from harper.mqtt.packets import MQTT_3_1_1, MQTT_5, MalformedPacket
from harper.operations.api import OperationsAPI, default_operations
from harper.operations.csv_ops import read_rows
from harper.operations.fields import Fields
from harper.resources.querystring import parse_query
from harper.schema.model import TableDefinition
from harper.schema.sdl import parse_schema

Target = Callable[[bytes], None]

#: Where a target's input is cut in two: the first byte picks a variant (a protocol level, a
#: content type), the rest is the input proper.
_LEVELS = (None, MQTT_3_1_1, MQTT_5)
_BODY_TYPES = (
    None, "application/json", "application/cbor", "application/x-msgpack",
    "application/msgpack; charset=utf-8", "application/x-www-form-urlencoded", "text/json",
)

_CSV_SCHEMA = """
type Dog @table {
  id: ID @primaryKey
  name: String! @indexed
  age: Int
  weight: Float
  born: Date
  alive: Boolean
  tags: [String]
  extra: Any
}
"""


def _text(data: bytes) -> str:
    """
    C{data} as text the way a transport would hand it on: UTF-8 with replacement.
    """
    return data.decode("utf-8", "replace")


def _split(data: bytes, choices: int) -> tuple[int, bytes]:
    if not data:
        return 0, b""
    return data[0] % choices, data[1:]


def mqtt_codec(data: bytes) -> None:
    """
    Feed C{data} to an MQTT decoder (a server's, or a client's of either level) in two
    chunks; it may only return packets, wait, or raise L{MalformedPacket}.
    """
    choice, rest = _split(data, len(_LEVELS))
    decoder = MQTTDecoder(_LEVELS[choice])
    cut = len(rest) // 2
    try:
        decoder.feed(rest[:cut])
        decoder.feed(rest[cut:])
    except MalformedPacket:
        pass


def query_string(data: bytes) -> None:
    """
    Parse C{data} as the query string of a REST URL; only L{QuerySyntaxError} may come out.
    """
    try:
        parse_query(_text(data))
    except QuerySyntaxError:
        pass


def sdl_schema(data: bytes) -> None:
    """
    Load C{data} as a GraphQL SDL schema file; only L{SchemaError} may come out.
    """
    try:
        parse_schema([("fuzz.graphql", _text(data))])
    except SchemaError:
        pass


def body_decoders(data: bytes) -> None:
    """
    Decode C{data} as a request body of one of the types harper reads (JSON, CBOR,
    MessagePack, forms); only L{InvalidInput} (unsupported type, invalid body) may come out.
    """
    choice, rest = _split(data, len(_BODY_TYPES))
    try:
        decode_body(_BODY_TYPES[choice], rest)
    except InvalidInput:
        pass


@attr.frozen
class _CsvTable:
    """
    What L{read_rows} needs of a table resource: its definition.
    """

    definition: TableDefinition


_csv_table: Optional[_CsvTable] = None


def _table() -> _CsvTable:
    global _csv_table
    if _csv_table is None:
        _csv_table = _CsvTable(parse_schema([("dog.graphql", _CSV_SCHEMA)]).tables[0])
    return _csv_table


def csv_rows(data: bytes) -> None:
    """
    Read C{data} as the CSV of C{csv_data_load} for a table with attributes of every type;
    only L{InvalidInput} may come out (rows that cannot be read are reported, not raised).
    """
    try:
        read_rows(_text(data), _table())  # type: ignore[arg-type]
    except InvalidInput:
        pass


_operations: Optional[OperationsAPI] = None


def _api() -> OperationsAPI:
    global _operations
    if _operations is None:
        _operations = OperationsAPI(None, default_operations(), 1 << 20)  # type: ignore[arg-type]
    return _operations


def operations_request(data: bytes) -> None:
    """
    Decode C{data} as the body of an operations-API request (JSON, or another type by the
    first byte) and look up the operation it names, as the API does before running it; only
    harper errors may come out.
    """
    choice, rest = _split(data, len(_BODY_TYPES))
    request = DummyRequest([b""])
    request.method = b"POST"
    request.content = io.BytesIO(rest)
    content_type = _BODY_TYPES[choice]
    if content_type is not None:
        request.requestHeaders.setRawHeaders(b"content-type", [content_type.encode("ascii")])
    try:
        fields = Fields(_api()._body(request))
        _api()._operations.get(fields.text("operation"))
    except HarperError:
        pass


class _Answers(resource.Resource):
    """
    Answers every request after reading its body and a header, as REST does.
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        request.content.read()
        return request.getHeader(b"accept") or b"ok"


_ANSWERS = _Answers()


class _Connection(StringTransport):
    """
    A transport that, like a TCP connection, ignores being resumed once it is closing and
    losing a producer it does not have.
    """

    def resumeProducing(self) -> None:
        if not self.disconnecting:
            super().resumeProducing()

    def unregisterProducer(self) -> None:
        if self.producer is not None:
            super().unregisterProducer()


def http_requests(data: bytes) -> None:
    """
    Feed C{data} to a connection of the HTTP port (the REST lane, handing over to twisted.web
    for what it does not take) in pieces of a size its first byte picks, then let every
    deadline pass and drop the connection: only answers may come out, never an exception.
    """
    size, rest = _split(data, 16)
    clock = Clock()
    limits = LaneLimits(max_header_size=512, max_body_size=256)
    lane = RestLane(_ANSWERS, _ANSWERS, lambda path: not path.startswith(b"/s"), limits, clock)
    channel = make_site(_ANSWERS, lane=lane, reactor=clock).buildProtocol(None)
    transport = _Connection()
    channel.makeConnection(transport)
    for start in range(0, len(rest), size + 1):
        if transport.disconnecting:
            break  # a closing TCP connection reads no more
        channel.dataReceived(rest[start:start + size + 1])
    clock.advance(limits.request_timeout + limits.headers_timeout + 1)
    channel.connectionLost(Failure(ConnectionDone()))


#: Every target by the name the fuzz runner takes.
TARGETS: dict[str, Target] = {
    "mqtt": mqtt_codec,
    "query": query_string,
    "sdl": sdl_schema,
    "body": body_decoders,
    "csv": csv_rows,
    "operations": operations_request,
    "http": http_requests,
}
