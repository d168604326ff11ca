"""
The REST lane's connection handling, byte for byte on a L{StringTransport} with a
L{Clock}: framing, pipelining, the hand-over to twisted.web, and the limits and deadlines
of a connection; and the lane with twisted.web over a real socket. (The REST tests of
L{tests.http.test_rest}, L{tests.http.test_formats}, L{tests.http.test_socket} and
L{tests.http.test_streaming} also run through the lane.)
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.python.filepath import FilePath
from twisted.web import resource, server, static

from harper.http.lane import LaneLimits, RestLane
from harper.http.site import HarperRoot, make_site
from tests.http.helpers import rest_api, start_runtime

_PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class Echo(resource.Resource):
    """
    Answers every request with its method, path and body; C{/hang} never answers, keeping
    the request in C{hanging}.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.hanging: list[Any] = []
        self.seen: list[Any] = []

    def render(self, request: Any) -> Any:
        self.seen.append(type(request).__name__)
        if request.path == b"/hang":
            self.hanging.append(request)
            return server.NOT_DONE_YET
        body = b"%s %s %s" % (request.method, request.path, request.content.read())
        request.setHeader(b"content-type", b"text/plain")
        request.setHeader(b"content-length", b"%d" % len(body))
        if request.method != b"HEAD":
            request.write(body)
        request.finish()
        return server.NOT_DONE_YET


class LaneTests(TestCase):
    """
    One connection to a site whose lane serves L{Echo}, except the paths under
    C{/static}, which twisted.web serves (with the same resource).
    """

    def setUp(self):
        self.clock = Clock()
        self.echo = Echo()
        self.logged: list[Any] = []
        limits = LaneLimits(headers_timeout=5, request_timeout=20, keep_alive_timeout=10,
                            max_header_size=1024, max_body_size=100)
        self.lane = RestLane(self.echo, self.echo, lambda path: not path.startswith(b"/static"), limits, self.clock)
        site = make_site(self.echo, lane=self.lane, reactor=self.clock)
        site.log = self.logged.append
        self.transport = StringTransport(peerAddress=_PEER)
        self.channel = site.buildProtocol(_PEER)
        self.channel.makeConnection(self.transport)

    def answers(self) -> list[bytes]:
        """
        The answers written so far (status lines and bodies, without Date and Server).
        """
        lines = [
            line for line in self.transport.value().split(b"\r\n")
            if not line.startswith((b"Date:", b"Server:"))
        ]
        return lines

    def test_pipelined(self):
        """
        Requests sent together are answered in order, each with its length.
        """
        self.channel.dataReceived(
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcHEAD /c HTTP/1.1\r\n\r\n"
        )
        self.assertEqual(self.answers(), [
            b"HTTP/1.1 200 OK", b"Content-Type: text/plain", b"Content-Length: 7", b"", b"GET /a HTTP/1.1 200 OK",
            b"Content-Type: text/plain", b"Content-Length: 10", b"", b"PUT /b abcHTTP/1.1 200 OK",
            b"Content-Type: text/plain", b"Content-Length: 8", b"", b"",
        ])
        self.assertEqual(self.echo.seen, ["LeanRequest"] * 3)
        self.assertEqual(len(self.logged), 3)
        self.assertFalse(self.transport.disconnecting)

    def test_split_anywhere(self):
        """
        A request arriving a byte at a time is the same request.
        """
        for byte in b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello":
            self.channel.dataReceived(bytes([byte]))
        self.assertTrue(self.transport.value().endswith(b"\r\n\r\nPOST /p hello"))

    def test_waits_for_answer(self):
        """
        A request is not answered before the one before it, and what arrives meanwhile waits.
        """
        self.channel.dataReceived(b"GET /hang HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
        self.assertEqual(self.transport.value(), b"")
        hanging = self.echo.hanging.pop()
        hanging.setHeader(b"content-length", b"2")
        hanging.write(b"ok")
        hanging.finish()
        self.assertTrue(self.transport.value().endswith(b"GET /next "))

    def test_streamed_answer(self):
        """
        An answer written without a length is chunked, and ended by the last chunk.
        """
        self.channel.dataReceived(b"GET /hang HTTP/1.1\r\n\r\n")
        hanging = self.echo.hanging.pop()
        hanging.write(b"abc")
        hanging.write(b"de")
        hanging.finish()
        value = self.transport.value()
        self.assertIn(b"Transfer-Encoding: chunked\r\n", value)
        self.assertTrue(value.endswith(b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))

    def test_http_10(self):
        """
        HTTP/1.0 closes after the answer unless the client asks to keep the connection.
        """
        self.channel.dataReceived(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        self.assertIn(b"Connection: keep-alive\r\n", self.transport.value())
        self.assertFalse(self.transport.disconnecting)
        self.channel.dataReceived(b"GET /b HTTP/1.0\r\n\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.0 200 OK"))
        self.assertTrue(self.transport.disconnecting)

    def test_connection_close(self):
        """
        C{Connection: close} closes after the answer; what follows is not served.
        """
        self.channel.dataReceived(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        self.assertIn(b"Connection: close\r\n", self.transport.value())
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value().count(b"HTTP/1.1 200"), 1)

    def test_hand_over(self):
        """
        The first request the lane does not take, and everything after it on the connection,
        is served by twisted.web: a static path, a chunked body, an upgrade, an unknown
        method.
        """
        for first in (
            b"GET /static/x HTTP/1.1\r\n\r\n",
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"GET /a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"BREW /a HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nAccept: a\r\nAccept: b\r\n\r\n",
        ):
            self.setUp()
            self.channel.dataReceived(b"GET /lane HTTP/1.1\r\n\r\n" + first + b"GET /after HTTP/1.1\r\n\r\n")
            self.assertEqual(self.echo.seen, ["LeanRequest", "Request", "Request"], first)
            self.assertEqual(self.transport.value().count(b"HTTP/1.1 200 OK"), 3, first)
            self.assertTrue(self.transport.value().endswith(b"GET /after "), first)

    def test_chunked_body_over_twisted(self):
        """
        A chunked body reaches the resource whole through twisted.web.
        """
        self.channel.dataReceived(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        self.assertTrue(self.transport.value().endswith(b"POST /a abc"))

    def test_refusals(self):
        """
        Heads and bodies over the limits, a bad length and an unknown HTTP version are
        refused with their status and the connection closed; nothing reaches the resource.
        """
        for sent, status in (
            (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", b"431"),
            (b"GET /a HTTP/1.1\r\nX: " + b"b" * 2000, b"431"),
            (b"PUT /a HTTP/1.1\r\nContent-Length: 101\r\n\r\n", b"413"),
            (b"PUT /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
            (b"PUT /a HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", b"400"),
            (b"GET /a HTTP/2.0\r\n\r\n", b"505"),
        ):
            self.setUp()
            self.channel.dataReceived(sent)
            value = self.transport.value()
            self.assertTrue(value.startswith(b"HTTP/1.1 " + status), (sent[:40], value))
            self.assertIn(b"Content-Type: application/json\r\n", value)
            self.assertTrue(self.transport.disconnecting)
            self.assertEqual(self.echo.seen, [])

    def test_not_utf8(self):
        """
        A header value that is not UTF-8, asked for as text, is a 400, not a crash.
        """

        class Reads(resource.Resource):
            isLeaf = True

            def render(self, request):
                return request.getHeader("accept").encode("utf-8")

        self.lane._rest = Reads()
        self.channel.dataReceived(b"GET /a HTTP/1.1\r\nAccept: \xe9\xff\r\n\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 400 Bad Request"))
        self.assertIn(b"accept header is not valid UTF-8", self.transport.value())

    def test_slow_head(self):
        """
        A head not complete within C{headersTimeout} of its first byte is a 408.
        """
        self.clock.advance(4)
        self.channel.dataReceived(b"GET /a HTTP/1.1\r\n")
        self.clock.advance(4)
        self.channel.dataReceived(b"X-Slow: 1\r\n")
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "))
        self.assertIn(b"http.headersTimeout", self.transport.value())
        self.assertTrue(self.transport.disconnecting)

    def test_silent_client(self):
        """
        A client that connects and sends nothing is closed after C{headersTimeout}.
        """
        self.clock.advance(4)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.disconnecting)

    def test_slow_body(self):
        """
        A body not complete within C{http.timeout} of its head is a 408.
        """
        self.channel.dataReceived(b"PUT /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        self.clock.advance(19)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408"))
        self.assertTrue(self.transport.disconnecting)

    def test_keep_alive_timeout(self):
        """
        A connection idle after an answer for C{keepAliveTimeout} is closed.
        """
        self.channel.dataReceived(b"GET /a HTTP/1.1\r\n\r\n")
        self.clock.advance(9)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(self.transport.disconnecting)

    def test_request_timeout(self):
        """
        A request not answered within C{http.timeout} gets a 503 with C{Retry-After}; whoever
        waits for its end hears that it did not end; a late answer writes nothing.
        """
        self.channel.dataReceived(b"GET /hang HTTP/1.1\r\n\r\n")
        hanging = self.echo.hanging.pop()
        finished: list[Any] = []
        hanging.notifyFinish().addBoth(finished.append)
        self.clock.advance(21)
        value = self.transport.value()
        self.assertTrue(value.startswith(b"HTTP/1.1 503 Service Unavailable"))
        self.assertIn(b"Retry-After: 20\r\n", value)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(len(finished), 1)
        self.assertIsNot(finished[0], None)
        hanging.write(b"late")
        hanging.finish()
        self.assertEqual(self.transport.value(), value)

    def test_client_gone(self):
        """
        When the client goes away, the request in progress hears it and writes nothing.
        """
        self.channel.dataReceived(b"GET /hang HTTP/1.1\r\n\r\n")
        hanging = self.echo.hanging.pop()
        failed: list[Any] = []
        hanging.notifyFinish().addErrback(failed.append)
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(failed), 1)
        self.assertIs(hanging.channel, None)
        hanging.finish()
        self.assertEqual(self.transport.value(), b"")
        self.assertEqual(self.lane._channels, set())


class LaneSocketTests(TestCase):
    """
    The lane and twisted.web on one real connection, with a plain socket client.
    """

    @inlineCallbacks
    def setUp(self):
        runtime = start_runtime(self)
        yield runtime.tables.Dog.put("rex", {"name": "Rex"})
        folder = FilePath(self.mktemp())
        folder.makedirs()
        folder.child("hello.txt").setContent(b"hello")
        rest = rest_api(runtime)
        root = HarperRoot(rest, [("web", static.File(folder.path))])
        lane = RestLane(root, rest, root.serves_rest, LaneLimits(), reactor)
        port = reactor.listenTCP(0, make_site(root, lane=lane), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port

    def exchange(self, data: bytes, answers: int) -> Deferred:
        """
        Send C{data} on a new connection and fire with what came back once C{answers}
        answers arrived (or the server closed).
        """
        def talk() -> bytes:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as client:
                client.sendall(data)
                received = b""
                while received.count(b"HTTP/1.1 ") < answers or not _complete(received):
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                return received

        return threads.deferToThread(talk)

    @inlineCallbacks
    def test_rest_then_static_then_rest(self):
        """
        Pipelined: a record (the lane), a static file (twisted.web takes the connection over)
        and the record again (twisted.web), all answered in order and alike.
        """
        get = b"GET /Dog/rex HTTP/1.1\r\nHost: x\r\n\r\n"
        received = yield self.exchange(get + b"GET /web/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n" + get, 3)
        answers = received.split(b"HTTP/1.1 ")[1:]
        self.assertEqual([answer[:3] for answer in answers], [b"200"] * 3)
        self.assertTrue(answers[1].endswith(b"hello"))
        first, last = (dict(_fields(answer)) for answer in (answers[0], answers[2]))
        for name in (b"content-type", b"etag", b"content-length", b"vary"):
            self.assertEqual(first[name], last[name], name)
        self.assertEqual(answers[0].rpartition(b"\r\n\r\n")[2], answers[2].rpartition(b"\r\n\r\n")[2])

    @inlineCallbacks
    def test_oversized_body_refused_at_once(self):
        """
        A body announced larger than C{http.maxBodySize} is refused before it is sent.
        """
        received = yield self.exchange(b"PUT /Dog/rex HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 1)
        self.assertTrue(received.startswith(b"HTTP/1.1 413 "))


def _fields(answer: bytes) -> list[tuple[bytes, bytes]]:
    """
    The header fields of C{answer} (lower-case names), but those that change each time.
    """
    head = answer.partition(b"\r\n\r\n")[0]
    return [
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
        if name.strip().lower() not in (b"date", b"server-timing")
    ]


def _complete(received: bytes) -> bool:
    """
    Whether the last answer in C{received} is whole (its head, and its Content-Length of body).
    """
    head, ended, body = received.rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")
    length = dict(_fields(b"x\r\n" + head)).get(b"content-length")
    return bool(ended) and (length is None or len(body) >= int(length))
