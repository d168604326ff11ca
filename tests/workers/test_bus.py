"""
Tests for L{harper.workers.bus}: the frames of change events and both ends of the bus.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from harper.database.events import PATCH, PUT, ChangeEvent, ChangeFeed
from harper.workers.bus import (
    READY, Broadcast, Broadcasts, EventRelay, WorkerChannel, decode_event, decode_frame,
    encode_broadcast, encode_event,
)

EVENT = ChangeEvent(
    "data", "Dog", "rex", PATCH,
    {"name": "Rex", "born": datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc),
     "photo": b"\x89PNG", "weight": Decimal("12.5"), "big": 2 ** 80, "tags": ["a"]},
    1795614671162.5, "admin", ("name",),
)


def frames(transport: StringTransport) -> list[bytes]:
    """
    The length-prefixed frames written to C{transport}.
    """
    data, result = transport.value(), []
    while data:
        size = int.from_bytes(data[:4], "big")
        result.append(data[4:4 + size])
        data = data[4 + size:]
    return result


def prefixed(frame: bytes) -> bytes:
    """
    C{frame} with its 32-bit length prefix, as it travels on the bus.
    """
    return len(frame).to_bytes(4, "big") + frame


class CodecTests(TestCase):
    """
    L{encode_event} and L{decode_event}.
    """

    def test_round_trip(self) -> None:
        """
        An event survives encoding with its values' types: datetimes, bytes, decimals, big
        integers and the tuple of patched attributes.
        """
        self.assertEqual(decode_event(encode_event(EVENT)), EVENT)

    def test_composite_key(self) -> None:
        """
        A tuple key comes back as a tuple (hashable), not a list.
        """
        event = ChangeEvent("data", "Pair", (1, "a"), PUT, {"x": 1}, 1.0)
        self.assertEqual(decode_event(encode_event(event)).id, (1, "a"))

    def test_garbage(self) -> None:
        """
        Bytes that are not an event frame raise L{ValueError} saying so.
        """
        for frame in (b"\xff\x00", b"\x01", encode_event(EVENT)[:-3]):
            with self.assertRaises(ValueError) as raised:
                decode_event(frame)
            self.assertIn("not a change event frame", str(raised.exception))


class WorkerChannelTests(TestCase):
    """
    L{WorkerChannel}: a worker's end of the bus.
    """

    def setUp(self) -> None:
        self.feed = ChangeFeed()
        self.seen: list[ChangeEvent] = []
        self.feed.listen(self.seen.append)
        self.lost: list[bool] = []
        self.channel = WorkerChannel(self.feed, lambda: self.lost.append(True))
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)

    def test_ready_then_local_events(self) -> None:
        """
        The worker says it is ready, then sends every event its own feed emits.
        """
        self.feed.emit([EVENT])
        self.assertEqual(frames(self.transport), [READY, encode_event(EVENT)])

    def test_remote_events_reach_feed_without_echo(self) -> None:
        """
        An event from another worker reaches the local feed's listeners and is not sent back.
        """
        self.transport.clear()
        self.channel.dataReceived(prefixed(encode_event(EVENT)))
        self.assertEqual(self.seen, [EVENT])
        self.assertEqual(self.transport.value(), b"")

    def test_bad_frame_ignored(self) -> None:
        """
        A frame that is not an event is logged and skipped; the next one still arrives.
        """
        self.channel.dataReceived(prefixed(b"\xff") + prefixed(encode_event(EVENT)))
        self.assertEqual(self.seen, [EVENT])

    def test_unencodable_event_skipped(self) -> None:
        """
        An event whose value cannot be encoded is logged and not sent; later ones are.
        """
        self.transport.clear()
        self.feed.emit([ChangeEvent("data", "Dog", 1, PUT, {"x": object()}, 1.0), EVENT])
        self.assertEqual(frames(self.transport), [encode_event(EVENT)])
        self.flushLoggedErrors()

    def test_lost(self) -> None:
        """
        When the master is gone the channel says so and stops sending the feed's events.
        """
        self.channel.connectionLost(None)
        self.transport.clear()
        self.feed.emit([EVENT])
        self.assertEqual((self.lost, self.transport.value()), ([True], b""))


class BroadcastTests(TestCase):
    """
    L{Broadcasts} over a L{WorkerChannel}: what a worker sends its peers besides events.
    """

    def setUp(self) -> None:
        self.feed = ChangeFeed()
        self.seen: list[ChangeEvent] = []
        self.feed.listen(self.seen.append)
        self.broadcasts = Broadcasts()
        self.received: list = []
        self.stop = self.broadcasts.listen("mqtt.message", self.received.append)
        self.channel = WorkerChannel(self.feed, lambda: None, self.broadcasts)
        self.transport = StringTransport()

    def test_not_connected(self) -> None:
        """
        Before the bus is connected, a broadcast goes nowhere.
        """
        self.broadcasts.send("mqtt.message", {"topic": "t"})
        self.channel.makeConnection(self.transport)
        self.assertEqual(frames(self.transport), [READY])

    def test_send(self) -> None:
        """
        A broadcast is one frame on the bus, which decodes as a L{Broadcast}, not an event.
        """
        self.channel.makeConnection(self.transport)
        self.broadcasts.send("mqtt.message", {"topic": "t", "payload": b"\x00"})
        frame = frames(self.transport)[1]
        self.assertEqual(decode_frame(frame),
                         Broadcast("mqtt.message", {"topic": "t", "payload": b"\x00"}))
        with self.assertRaises(ValueError):
            decode_event(frame)

    def test_receive(self) -> None:
        """
        A broadcast from another worker reaches the receiver of its kind, not the change feed;
        one of a kind nobody listens to (or after the listener stopped) is dropped.
        """
        self.channel.makeConnection(self.transport)
        self.channel.dataReceived(prefixed(encode_broadcast(Broadcast("mqtt.message", [1]))))
        self.channel.dataReceived(prefixed(encode_broadcast(Broadcast("other", [2]))))
        self.stop()
        self.channel.dataReceived(prefixed(encode_broadcast(Broadcast("mqtt.message", [3]))))
        self.channel.dataReceived(prefixed(encode_event(EVENT)))
        self.assertEqual((self.received, self.seen), ([[1]], [EVENT]))

    def test_failing_receiver(self) -> None:
        """
        A receiver that raises is logged; the next broadcast still arrives.
        """
        def fail(body: object) -> None:
            self.received.append(body)
            raise RuntimeError("boom")

        self.broadcasts.listen("mqtt.message", fail)
        self.channel.makeConnection(self.transport)
        for body in (1, 2):
            self.channel.dataReceived(prefixed(encode_broadcast(Broadcast("mqtt.message", body))))
        self.assertEqual(self.received, [1, 2])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_lost(self) -> None:
        """
        Once the bus is gone, broadcasts go nowhere.
        """
        self.channel.makeConnection(self.transport)
        self.channel.connectionLost(None)
        self.transport.clear()
        self.broadcasts.send("mqtt.message", 1)
        self.assertEqual(self.transport.value(), b"")


class EventRelayTests(TestCase):
    """
    L{EventRelay}: the master's end, forwarding between workers.
    """

    def connect(self, relay: EventRelay, ready: list) -> tuple:
        """
        A relay channel over a string transport; its readiness is appended to C{ready}.
        """
        channel = relay.channel(lambda: ready.append(channel))
        transport = StringTransport()
        channel.makeConnection(transport)
        return channel, transport

    def test_forwards_to_others(self) -> None:
        """
        A worker's event frame goes to every other connected worker, not back to it.
        """
        relay, ready = EventRelay(), []
        (a, a_out), (b, b_out), (c, c_out) = (self.connect(relay, ready) for _ in range(3))
        a.dataReceived(prefixed(b"event"))
        self.assertEqual((frames(a_out), frames(b_out), frames(c_out)), ([], [b"event"], [b"event"]))

    def test_ready_and_detach(self) -> None:
        """
        The empty frame reports readiness (and is not forwarded); a lost worker gets nothing.
        """
        relay, ready = EventRelay(), []
        a, a_out = self.connect(relay, ready)
        b, b_out = self.connect(relay, ready)
        b.dataReceived(prefixed(READY))
        b.connectionLost(None)
        a.dataReceived(prefixed(b"event"))
        self.assertEqual((ready, frames(a_out), frames(b_out)), ([b], [], []))
