"""
Subscriptions that start with history (C{startTime}, C{previousCount}), C{omitCurrent} and
C{includeDescendants}: through L{harper.resources.table.TableResource.subscribe}, and end to
end over loopback sockets with Autobahn's WebSocket client and an event-stream reader.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import treq
from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from harper.components.application import Application
from harper.components.config import config_from_string
from harper.components.runtime import ApplicationTables, Runtime
from harper.database.events import ChangeEvent
from harper.errors import InvalidInput
from harper.http.site import make_site
from harper.resources.context import RequestContext
from harper.resources.subscription import SubscriptionOptions, options_from_query
from harper.resources.target import RequestTarget
from harper.schema.sdl import parse_schema
from harper.websocket.resource import RealtimeResource
from harper.websocket.sse import EventIds, parse_event_id, resumed_query
from tests.websocket.test_resource import _BASIC, Fallback, Recorder, authenticate

SCHEMA = """
type Dog @table @export {
  id: Int @primaryKey
  name: String
}
type Place @table @export {
  id: ID @primaryKey
  name: String
}
"""


def start_runtime(case: TestCase, config: str = "") -> Runtime:
    """
    A started runtime over FileStorage with the Dog and Place tables; stopped after the test.
    """
    settings = config_from_string("storage: {threadPoolSize: 2}\n" + config, root=case.mktemp(), environ={})
    planned = [ApplicationTables(Application(".", settings), parse_schema([("history.graphql", SCHEMA)]))]
    runtime = Runtime(settings, planned, reactor)
    runtime.start()
    case.addCleanup(runtime.stop)
    return runtime


class OptionsTests(SynchronousTestCase):
    """
    L{options_from_query}.
    """

    def test_parsed(self) -> None:
        """
        Numbers and flags (bare, or with a value) are read; other parameters are ignored.
        """
        self.assertEqual(
            options_from_query("startTime=1700000000000.5&previousCount=3&omitCurrent&includeDescendants=true&x=1"),
            SubscriptionOptions(1700000000000.5, 3, True, True),
        )
        self.assertEqual(options_from_query("omitCurrent=false"), SubscriptionOptions())
        self.assertFalse(options_from_query("").replays)

    def test_bad_values(self) -> None:
        """
        A value that is not a number is refused, naming the parameter.
        """
        for query, name in (("startTime=soon", "startTime"), ("startTime=nan", "startTime"),
                            ("previousCount=-1", "previousCount"), ("previousCount=2.5", "previousCount")):
            error = self.assertRaises(InvalidInput, options_from_query, query)
            self.assertTrue(error.message.startswith(name + ":"), error.message)


class EventIdTests(SynchronousTestCase):
    """
    The ids of event-stream change events and the positions they name.
    """

    def change(self, stamp: float) -> Any:
        return ChangeEvent("data", "Dog", 1, "put", {}, stamp)

    def test_same_timestamp(self) -> None:
        """
        Changes sharing a timestamp (one commit) get C{<timestamp>:<n>} after the first; a
        stream resumed from one of them skips it and those before it.
        """
        ids = EventIds()
        self.assertEqual([ids.next(self.change(s)) for s in (5.0, 5.0, 5.0, 6.0)],
                         ["5.0", "5.0:1", "5.0:2", "6.0"])
        resumed = EventIds(parse_event_id("5.0:1"))
        self.assertEqual([resumed.next(self.change(s)) for s in (5.0, 5.0, 5.0, 6.0)],
                         [None, None, "5.0:2", "6.0"])

    def test_parse(self) -> None:
        """
        Only ids of that form name a position; others are a custom resource's business.
        """
        self.assertEqual(parse_event_id(" 12.5 "), (12.5, 0))
        self.assertEqual(parse_event_id("12.5:3"), (12.5, 3))
        for text in ("", "abc", "1:x", "1:-1", "nan", "inf"):
            self.assertIsNone(parse_event_id(text), text)

    def test_resumed_query(self) -> None:
        """
        The resume position replaces C{startTime} and C{previousCount}; other options stay.
        """
        self.assertEqual(resumed_query("previousCount=3&omitCurrent&startTime=1", (7.5, 0)),
                         "omitCurrent=&startTime=7.5")


class ResourceSubscribeTests(TestCase):
    """
    L{TableResource.subscribe} with options, called directly.
    """

    def setUp(self) -> None:
        self.runtime = start_runtime(self)
        self.resource = self.runtime.resources[("data", "Dog")]
        self.places = self.runtime.resources[("data", "Place")]

    def put(self, resource: Any, key: Any, record: dict) -> Deferred:
        return self.runtime.caller.call("put", resource, RequestTarget.record(key), RequestContext(), record)

    def subscribe(self, resource: Any, target: RequestTarget, **options: Any) -> list:
        received: list = []
        context = RequestContext(subscription=SubscriptionOptions(**options))
        subscription = resource.subscribe(target, context, received.append)
        self.addCleanup(subscription.close)
        return received

    async def test_seam_drops_repeats(self) -> None:
        """
        A change delivered by the history and then by the feed (committed while the history
        was read) reaches the listener once; later changes arrive live.
        """
        await self.put(self.resource, 1, {"name": "Rex"})
        received = self.subscribe(self.resource, RequestTarget.collection(), start_time=0.0)
        self.assertEqual([e.value["name"] for e in received], ["Rex"])
        self.runtime.feed.emit([received[0]])
        await self.put(self.resource, 2, {"name": "Max"})
        self.assertEqual([e.value["name"] for e in received], ["Rex", "Max"])

    async def test_previous_count_of_record(self) -> None:
        """
        C{previousCount} on a record replays the last changes of that record only.
        """
        for name in ("a", "b", "c"):
            await self.put(self.resource, 1, {"name": name})
            await self.put(self.resource, 2, {"name": name.upper()})
        received = self.subscribe(self.resource, RequestTarget.record(1), previous_count=2)
        self.assertEqual([e.value["name"] for e in received], ["b", "c"])

    def test_collection_refuses_both(self) -> None:
        """
        C{previousCount} with C{startTime} on a collection is refused.
        """
        error = self.assertRaises(InvalidInput, self.subscribe, self.resource, RequestTarget.collection(),
                                  start_time=0.0, previous_count=1)
        self.assertIn("previousCount", error.message)

    async def test_descendants(self) -> None:
        """
        With C{includeDescendants}, a record subscription covers the ids below it
        (C{a/...}), not its siblings sharing a prefix (C{ab}); a prefix collection target
        (C{a/}) covers only what is below.
        """
        below = self.subscribe(self.places, RequestTarget.record("a"), include_descendants=True)
        only = self.subscribe(self.places, RequestTarget.record("a"))
        prefix = self.subscribe(self.places, RequestTarget(is_collection=True, path="a/"))
        for key in ("a", "a/b", "ab", "a/b/c"):
            await self.put(self.places, key, {"name": key})
        self.assertEqual([e.id for e in below], ["a", "a/b", "a/b/c"])
        self.assertEqual([e.id for e in only], ["a"])
        self.assertEqual([e.id for e in prefix], ["a/b", "a/b/c"])


class RealtimeHistoryTests(TestCase):
    """
    The options on WebSocket and event-stream requests over loopback sockets.
    """

    timeout = 30
    config = ""

    def setUp(self) -> None:
        self.runtime = start_runtime(self, self.config)
        root = RealtimeResource(Fallback(), self.runtime.registry, self.runtime.caller, authenticate)
        port = reactor.listenTCP(0, make_site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port
        self.dogs = self.runtime.tables.Dog

    def websocket(self, path: str) -> WebSocketClientFactory:
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.port}{path}", headers={"Authorization": _BASIC})
        factory.protocol = Recorder
        factory.messages, factory.waiting = [], []
        factory.opened, factory.closed = Deferred(), Deferred()
        connector = reactor.connectTCP("127.0.0.1", self.port, factory)
        self.addCleanup(connector.disconnect)
        return factory

    def wait_for(self, factory: WebSocketClientFactory, count: int) -> Deferred:
        if len(factory.messages) >= count:
            return succeed(list(factory.messages))
        d: Deferred = Deferred()
        factory.waiting.append((count, d))
        return d.addTimeout(20, reactor)

    async def events(self, factory: WebSocketClientFactory, count: int) -> list[dict]:
        return [json.loads(payload) for payload, _ in await self.wait_for(factory, count)]

    async def stream(self, path: str, until: Optional[bytes] = None,
                     last_event_id: Optional[str] = None) -> tuple[int, bytes]:
        """
        Read the event stream at C{path} until C{until} arrived (or the answer ended).
        """
        headers = {"Accept": "text/event-stream", "Authorization": _BASIC}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        response = await treq.get(f"http://127.0.0.1:{self.port}{path}", headers=headers,
                                  unbuffered=True, persistent=False)
        if response.code != 200:
            return response.code, await response.content()
        chunks: list[bytes] = []
        arrived: Deferred = Deferred()

        def collect(data: bytes) -> None:
            chunks.append(data)
            if until is not None and until in b"".join(chunks) and not arrived.called:
                arrived.callback(None)

        finished = treq.collect(response, collect)
        await arrived.addTimeout(20, reactor)
        response.original._transport.loseConnection()
        await finished.addErrback(lambda _: None)
        return response.code, b"".join(chunks)


class WithAuditTests(RealtimeHistoryTests):
    """
    With the audit log (the default).
    """

    async def stamps(self, count: int) -> list[float]:
        """
        Write Dog 1..count (names dog1...); return the versions the audit log gave them.
        """
        for key in range(1, count + 1):
            await self.dogs.put(key, {"name": f"dog{key}"})
        entries = self.runtime.history.events("data", "Dog", lambda event: True, 0.0)
        return [event.timestamp for event in entries]

    async def test_websocket_start_time(self) -> None:
        """
        C{?startTime=} replays the table's changes from that time on, then live changes, and
        no current record comes first.
        """
        stamps = await self.stamps(3)
        factory = self.websocket(f"/Dog/?startTime={stamps[1]!r}")
        await factory.opened
        await self.events(factory, 2)
        await self.dogs.put(4, {"name": "dog4"})
        events = await self.events(factory, 3)
        self.assertEqual([(e["type"], e["id"]) for e in events], [("put", 2), ("put", 3), ("put", 4)])
        self.assertEqual(events[0]["version"], stamps[1])

    async def test_websocket_previous_count_record(self) -> None:
        """
        C{/Dog/1?previousCount=2} sends the record's last two changes instead of its current
        value, then its live changes.
        """
        for name in ("a", "b", "c"):
            await self.dogs.put(1, {"name": name})
        factory = self.websocket("/Dog/1?previousCount=2")
        await factory.opened
        await self.events(factory, 2)
        await self.dogs.delete(1)
        events = await self.events(factory, 3)
        self.assertEqual([(e["type"], (e["value"] or {}).get("name")) for e in events],
                         [("put", "b"), ("put", "c"), ("delete", None)])

    async def test_websocket_omit_current_and_descendants(self) -> None:
        """
        C{?omitCurrent} skips the current record; C{?includeDescendants} adds the records
        below it; C{/Place/a/} covers only those below.
        """
        await self.runtime.tables.Place.put("a", {"name": "first"})
        record = self.websocket("/Place/a?omitCurrent&includeDescendants")
        below = self.websocket("/Place/a/")
        await gatherResults([record.opened, below.opened])
        for key in ("ab", "a/x", "a"):
            await self.runtime.tables.Place.put(key, {"name": key})
        self.assertEqual([e["id"] for e in await self.events(record, 2)], ["a/x", "a"])
        self.assertEqual([e["id"] for e in await self.events(below, 1)], ["a/x"])
        self.assertEqual(len(record.messages), 2)

    async def test_event_stream_previous_count(self) -> None:
        """
        An event stream with C{?previousCount=2} on the table starts with the last two
        changes.
        """
        await self.stamps(3)
        code, text = await self.stream("/Dog/?previousCount=2", until=b'"dog3"')
        self.assertEqual(code, 200)
        self.assertNotIn(b'"dog1"', text)
        self.assertLess(text.index(b'"dog2"'), text.index(b'"dog3"'))

    async def test_event_stream_resumes(self) -> None:
        """
        An event stream carries each change's audit timestamp as its C{id}; a client that
        comes back with C{Last-Event-ID} gets the changes after that one (the history options
        of the URL give way to it), then the live ones.
        """
        stamps = await self.stamps(3)
        code, text = await self.stream("/Dog/?previousCount=3", until=b'"dog3"')
        self.assertEqual(code, 200)
        ids = [line[4:].decode() for line in text.split(b"\n") if line.startswith(b"id: ")]
        self.assertEqual([float(i) for i in ids], stamps)
        resumed = self.stream("/Dog/?previousCount=3", until=b'"dog4"', last_event_id=ids[0])
        await self.dogs.put(4, {"name": "dog4"})
        code, text = await resumed
        self.assertEqual(code, 200)
        self.assertNotIn(b'"dog1"', text)
        self.assertLess(text.index(b'"dog2"'), text.index(b'"dog3"'))
        self.assertLess(text.index(b'"dog3"'), text.index(b'"dog4"'))
        self.assertIn(f"id: {ids[1]}\n".encode(), text)
        self.assertEqual(text.count(b"event: put"), 3)

    async def test_event_stream_bad_option(self) -> None:
        """
        A bad option value is refused with 400 naming it.
        """
        code, body = await self.stream("/Dog/?startTime=soon")
        self.assertEqual(code, 400)
        self.assertIn("startTime", json.loads(body)["error"])

    async def test_seam(self) -> None:
        """
        Writes made while a subscription with C{startTime} replays its history arrive
        exactly once, in order, with the rest.
        """
        first = await self.stamps(1)
        writes = [self.dogs.put(key, {"name": f"dog{key}"}) for key in range(2, 150)]
        factory = self.websocket(f"/Dog/?startTime={first[0]!r}")
        await factory.opened
        writes += [self.dogs.put(key, {"name": f"dog{key}"}) for key in range(150, 300)]
        await gatherResults(writes)
        events = await self.events(factory, 299)
        await self.dogs.put(300, {"name": "last"})
        events = await self.events(factory, 300)
        self.assertEqual(sorted(e["id"] for e in events), list(range(1, 301)))
        versions = [e["version"] for e in events]
        self.assertEqual(versions, sorted(versions))
        self.assertEqual(len(set(versions)), 300)


class WithoutAuditTests(RealtimeHistoryTests):
    """
    With C{logging.auditLog: false}, history cannot be replayed.
    """

    config = "logging: {auditLog: false}\n"

    async def test_websocket_refused(self) -> None:
        """
        The WebSocket is closed with a reason naming the option and the setting.
        """
        factory = self.websocket("/Dog/?startTime=0")
        code, reason = await factory.closed
        self.assertEqual(code, 1011)
        self.assertIn("startTime", reason)
        self.assertIn("logging.auditLog", reason)

    async def test_event_stream_refused(self) -> None:
        """
        The event stream is refused with 400; without history options it works.
        """
        code, body = await self.stream("/Dog/?previousCount=1")
        self.assertEqual(code, 400)
        self.assertIn("previousCount", json.loads(body)["error"])
        code, text = await self.stream("/Dog/", until=b": subscribed")
        self.assertEqual(code, 200)
