# -*- test-case-name: tests.workers.test_bus -*-
"""
The change-event bus between worker processes: every worker sends the events its own commits
produce to the master, which forwards them to every other worker, where they reach the local
change feed (and so MQTT, WebSocket and SSE subscribers) without touching the store again.
The same way, L{Broadcasts} carries what is not a change of the store to every other worker:
the MQTT messages of topics that no resource serves.

Each worker talks to the master over its own stream socket (one end of a socket pair). Frames
are 32-bit length-prefixed; a frame is a CBOR-encoded event (an array) or broadcast (a map of
C{kind} and C{body}), except the empty frame, which a worker sends once when it serves
requests (its "ready" signal).
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional, Union

import attr
import cbor2
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver

from harper.database.events import ChangeEvent, ChangeFeed

#: The frame a worker sends when it is ready to serve.
READY = b""

#: Frames larger than this are refused (a corrupt stream), in bytes.
MAX_FRAME = 64 * 1024 * 1024


def encode_event(event: ChangeEvent) -> bytes:
    """
    The bus frame of C{event}.
    """
    return cbor2.dumps([
        event.database, event.table, event.id, event.type, event.value, event.timestamp,
        event.user, list(event.patched) if event.patched is not None else None,
    ])


@attr.frozen
class Broadcast:
    """
    A message for every other worker.

    :ivar kind: says which receiver takes it (L{Broadcasts.listen}).
    :ivar body: plain values (what CBOR encodes).
    """

    kind: str
    body: Any


def encode_broadcast(broadcast: Broadcast) -> bytes:
    """
    The bus frame of C{broadcast}.
    """
    return cbor2.dumps({"kind": broadcast.kind, "body": broadcast.body})


def decode_event(frame: bytes) -> ChangeEvent:
    """
    The event of a frame made by L{encode_event}.

    :raises ValueError: when C{frame} is not such a frame.
    """
    decoded = decode_frame(frame)
    if not isinstance(decoded, ChangeEvent):
        raise ValueError("not a change event frame: expected a list of 8 fields")
    return decoded


def decode_frame(frame: bytes) -> Union[ChangeEvent, Broadcast]:
    """
    The event or broadcast of a frame made by L{encode_event} or L{encode_broadcast}.

    :raises ValueError: when C{frame} is neither.
    """
    try:
        fields = cbor2.loads(frame)
    except Exception as error:
        raise ValueError(f"not a change event frame: {error}") from None
    if isinstance(fields, dict) and isinstance(fields.get("kind"), str) and "body" in fields:
        return Broadcast(fields["kind"], fields["body"])
    if not isinstance(fields, list) or len(fields) != 8:
        raise ValueError("not a change event frame: expected a list of 8 fields")
    database, table, key, kind, value, timestamp, user, patched = fields
    return ChangeEvent(
        database, table, tuple(key) if isinstance(key, list) else key, kind, value, timestamp,
        user, tuple(patched) if patched is not None else None,
    )


class Broadcasts:
    """
    A worker's broadcasts: sent to every other worker (once the bus is connected), and
    handed to this worker's receivers when other workers send them.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._receivers: dict[str, Callable[[Any], None]] = {}
        self._channel: Optional[Int32StringReceiver] = None

    def listen(self, kind: str, receiver: Callable[[Any], None]) -> Callable[[], None]:
        """
        Call C{receiver(body)} for each broadcast of C{kind} from another worker; return a
        function that stops it.
        """
        self._receivers[kind] = receiver

        def stop() -> None:
            if self._receivers.get(kind) is receiver:
                del self._receivers[kind]

        return stop

    def send(self, kind: str, body: Any) -> None:
        """
        Send C{body} to the receivers of C{kind} in every other worker (nowhere while the bus
        is not connected).

        :raises ValueError: C{body} cannot be encoded.
        """
        if self._channel is not None:
            self._channel.sendString(encode_broadcast(Broadcast(kind, body)))

    def connected(self, channel: Optional[Int32StringReceiver]) -> None:
        """
        Send through C{channel} from now on (C{None}: the bus is gone).
        """
        self._channel = channel

    def received(self, broadcast: Broadcast) -> None:
        """
        A broadcast from another worker: hand it to its receiver.
        """
        receiver = self._receivers.get(broadcast.kind)
        if receiver is None:
            return
        try:
            receiver(broadcast.body)
        except Exception:
            self._log.failure("receiving a {kind} broadcast failed", kind=broadcast.kind)


class WorkerChannel(Int32StringReceiver):
    """
    A worker's end of the bus: sends the local feed's events, emits the other workers' events
    into the local feed, and carries the broadcasts.

    :param feed: this worker's change feed.
    :param lost: called when the master is gone (the connection closed).
    :param broadcasts: this worker's broadcasts, or C{None}.
    """

    MAX_LENGTH = MAX_FRAME
    _log = Logger()

    def __init__(self, feed: ChangeFeed, lost: Callable[[], None],
                 broadcasts: Optional[Broadcasts] = None) -> None:
        self._feed = feed
        self._lost = lost
        self._broadcasts = broadcasts
        self._relaying = False
        self._stop_listening: Optional[Callable[[], None]] = None

    def connectionMade(self) -> None:
        self._stop_listening = self._feed.listen(self._committed)
        if self._broadcasts is not None:
            self._broadcasts.connected(self)
        self.sendString(READY)

    def _committed(self, event: ChangeEvent) -> None:
        if self._relaying:
            return
        try:
            frame = encode_event(event)
        except Exception:
            self._log.failure("cannot send change event {event!r} to the other workers", event=event)
            return
        self.sendString(frame)

    def stringReceived(self, frame: bytes) -> None:
        try:
            event = decode_frame(frame)
        except ValueError as error:
            self._log.warn("ignoring a bus frame: {error}", error=error)
            return
        if isinstance(event, Broadcast):
            if self._broadcasts is not None:
                self._broadcasts.received(event)
            return
        self._relaying = True
        try:
            self._feed.emit([event])
        finally:
            self._relaying = False

    def connectionLost(self, reason: Any = None) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._broadcasts is not None:
            self._broadcasts.connected(None)
        self._lost()


class EventRelay:
    """
    The master's side of the bus: forwards every event frame of one worker to all the others.
    """

    def __init__(self) -> None:
        self._channels: list["RelayChannel"] = []

    def channel(self, ready: Callable[[], None]) -> "RelayChannel":
        """
        A protocol for one worker's connection; C{ready()} is called when that worker serves.
        """
        return RelayChannel(self, ready)

    def attach(self, channel: "RelayChannel") -> None:
        """
        Forward frames to C{channel} from now on.
        """
        self._channels.append(channel)

    def detach(self, channel: "RelayChannel") -> None:
        """
        Stop forwarding frames to C{channel}.
        """
        if channel in self._channels:
            self._channels.remove(channel)

    def forward(self, origin: "RelayChannel", frame: bytes) -> None:
        """
        Send C{frame} to every worker but C{origin}.
        """
        for channel in self._channels:
            if channel is not origin:
                channel.sendString(frame)


class RelayChannel(Int32StringReceiver):
    """
    The master's end of one worker's bus connection.
    """

    MAX_LENGTH = MAX_FRAME

    def __init__(self, relay: EventRelay, ready: Callable[[], None]) -> None:
        self._relay = relay
        self._ready = ready

    def connectionMade(self) -> None:
        self._relay.attach(self)

    def stringReceived(self, frame: bytes) -> None:
        if frame == READY:
            self._ready()
        else:
            self._relay.forward(self, frame)

    def connectionLost(self, reason: Any = None) -> None:
        self._relay.detach(self)


def adopt_channel(reactor: Any, fd: int, protocol: Any) -> Any:
    """
    Run C{protocol} over the connected unix stream socket C{fd} (which stays ours to close).
    """
    return reactor.adoptStreamConnection(fd, socket.AF_UNIX, Factory.forProtocol(lambda: protocol))
