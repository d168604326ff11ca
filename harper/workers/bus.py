# -*- test-case-name: tests.workers.test_bus -*-
"""
The change-event bus between worker processes: every worker sends the events its own commits
produce to the master, which forwards them to every other worker, where they reach the local
change feed (and so MQTT, WebSocket and SSE subscribers) without touching the store again.

Each worker talks to the master over its own stream socket (one end of a socket pair). Frames
are 32-bit length-prefixed; a frame is a CBOR-encoded event, except the empty frame, which a
worker sends once when it serves requests (its "ready" signal).
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional

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


def decode_event(frame: bytes) -> ChangeEvent:
    """
    The event of a frame made by L{encode_event}.

    :raises ValueError: when C{frame} is not such a frame.
    """
    try:
        fields = cbor2.loads(frame)
    except Exception as error:
        raise ValueError(f"not a change event frame: {error}") from None
    if not isinstance(fields, list) or len(fields) != 8:
        raise ValueError("not a change event frame: expected a list of 8 fields")
    database, table, key, kind, value, timestamp, user, patched = fields
    return ChangeEvent(
        database, table, tuple(key) if isinstance(key, list) else key, kind, value, timestamp,
        user, tuple(patched) if patched is not None else None,
    )


class WorkerChannel(Int32StringReceiver):
    """
    A worker's end of the bus: sends the local feed's events, emits the other workers' events
    into the local feed.

    :param feed: this worker's change feed.
    :param lost: called when the master is gone (the connection closed).
    """

    MAX_LENGTH = MAX_FRAME
    _log = Logger()

    def __init__(self, feed: ChangeFeed, lost: Callable[[], None]) -> None:
        self._feed = feed
        self._lost = lost
        self._relaying = False
        self._stop_listening: Optional[Callable[[], None]] = None

    def connectionMade(self) -> None:
        self._stop_listening = self._feed.listen(self._committed)
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
            event = decode_event(frame)
        except ValueError as error:
            self._log.warn("ignoring a bus frame: {error}", error=error)
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
