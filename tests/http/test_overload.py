"""
Tests for L{harper.http.overload}: writes refused with 503 while the oldest unanswered write
has waited longer than C{http.requestQueueLimit}, in memory and over a real socket.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.test.requesthelper import DummyRequest

from harper.components.config import config_from_string
from harper.http.overload import PendingWrites, WriteLimitResource, with_write_limit
from harper.http.site import guarded
from tests.http.helpers import MemoryClient, SocketClient


class HeldWrites(resource.Resource):
    """
    A root that answers reads at once and holds every write until the test answers it.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.held: list = []

    def render(self, request):
        if request.method == b"GET":
            return b"read"
        self.held.append(request)
        return server.NOT_DONE_YET

    def answer_all(self) -> None:
        while self.held:
            request = self.held.pop(0)
            request.write(b"written")
            request.finish()


class PendingWritesTests(TestCase):
    """
    L{PendingWrites} on a fake clock.
    """

    def test_waited(self) -> None:
        """
        The wait is that of the oldest write not yet answered, in milliseconds; an answered
        write, or one whose client went away, no longer counts.
        """
        clock = Clock()
        pending = PendingWrites(1000, clock.seconds)
        self.assertEqual((pending.waited(), len(pending)), (0.0, 0))
        oldest, newer = DummyRequest([b"T"]), DummyRequest([b"T"])
        pending.track(oldest)
        clock.advance(0.75)
        pending.track(newer)
        clock.advance(0.5)
        self.assertEqual((pending.waited(), pending.overloaded()), (1250.0, True))
        oldest.finish()
        self.assertEqual((pending.waited(), pending.overloaded()), (500.0, False))
        newer.processingFailed(Failure(ConnectionDone()))
        self.assertEqual((pending.waited(), len(pending)), (0.0, 0))

    def test_disabled(self) -> None:
        """
        A limit of 0 leaves the root as it is.
        """
        root = resource.Resource()
        self.assertIs(with_write_limit(root, 0, Clock().seconds), root)
        self.assertIsInstance(with_write_limit(root, 10, Clock().seconds), WriteLimitResource)


class WriteLimitTests(TestCase):
    """
    L{WriteLimitResource} in front of L{HeldWrites}, in memory.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.root = HeldWrites()
        self.pending = PendingWrites(2000, self.clock.seconds)
        self.client = MemoryClient(WriteLimitResource(self.root, self.pending))

    def hold_write(self):
        d = self.client.request("PUT", "/T/1", b"{}")
        self.client._agent.flush()
        return d

    @inlineCallbacks
    def test_refused_while_behind(self):
        """
        Once a write has waited past the limit, new writes get 503 with Retry-After and a
        JSON error, reads still pass, and writes are taken again once it is answered.
        """
        first = self.hold_write()
        self.clock.advance(1.5)
        second = self.hold_write()
        self.assertEqual((len(self.root.held), len(self.pending)), (2, 2))
        self.clock.advance(1)
        refused = yield self.client.request("POST", "/T/", b"{}")
        self.assertEqual((refused.status, refused.header("retry-after")), (503, "2"))
        self.assertIn("busy", refused.json()["error"])
        read = yield self.client.request("GET", "/T/1")
        self.assertEqual((read.status, read.body), (200, b"read"))
        self.root.answer_all()
        yield first
        yield second
        self.assertEqual(len(self.pending), 0)
        accepted = self.hold_write()
        self.root.answer_all()
        reply = yield accepted
        self.assertEqual((reply.status, reply.body), (200, b"written"))

    @inlineCallbacks
    def test_within_limit(self):
        """
        Writes waiting less than the limit do not refuse others.
        """
        first = self.hold_write()
        self.clock.advance(1.9)
        second = self.hold_write()
        self.assertEqual(len(self.root.held), 2)
        self.root.answer_all()
        replies = [(yield first), (yield second)]
        self.assertEqual([r.status for r in replies], [200, 200])


class WriteLimitSocketTests(TestCase):
    """
    The daemon's front (L{guarded}) with C{http.requestQueueLimit}, over a real socket.
    """

    @inlineCallbacks
    def test_refusal_over_socket(self):
        """
        A write refused over the wire is a 503 that also carries the CORS headers.
        """
        for lane in (False, True):
            yield self.check_refusal(lane)

    @inlineCallbacks
    def check_refusal(self, lane):
        """
        The refusal, served by twisted.web or (with C{lane}) by the REST lane.
        """
        clock = Clock()
        root = HeldWrites()
        config = config_from_string("http: {requestQueueLimit: 500}\n", base_dir=".", root=self.mktemp(), environ={})
        self.assertEqual(config.http.request_queue_limit, 500)
        client = SocketClient(self, guarded(root, config.http, clock.seconds), rest=root if lane else None)
        held = client.request("DELETE", "/T/1")
        while not root.held:
            yield client.request("GET", "/T/1")
        clock.advance(1)
        refused = yield client.request("PUT", "/T/2", b"{}", {"Origin": "https://app.example"})
        self.assertEqual((refused.status, refused.header("retry-after")), (503, "1"))
        self.assertEqual(refused.header("access-control-allow-origin"), "https://app.example")
        root.answer_all()
        reply = yield held
        self.assertEqual(reply.status, 200)
