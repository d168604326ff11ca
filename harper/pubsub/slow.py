# -*- test-case-name: tests.pubsub.test_slow -*-
"""
Slow consumers: a real-time client whose socket stopped draining gets a bounded backlog, and
past it the configured policy applies, so that one slow client never makes the daemon's memory
grow without bound.
"""

from __future__ import annotations

from typing import Any, Callable

#: Past the bound, drop what the client cannot take.
DROP = "drop"

#: Past the bound, disconnect the client.
DISCONNECT = "disconnect"


class Backlog:
    """
    The messages of one connection: written at once while its transport takes them, held (up
    to C{limit}) while the transport asked to pause, written when it resumes.

    :param write: writes one message.
    :param disconnect: closes the connection (called once, when the policy is L{DISCONNECT}).
    :param limit: messages held at most.
    :param policy: L{DROP} or L{DISCONNECT}.
    :ivar dropped: messages dropped so far.
    """

    def __init__(self, write: Callable[[Any], None], disconnect: Callable[[], None],
                 limit: int = 1000, policy: str = DISCONNECT) -> None:
        self._write = write
        self._disconnect = disconnect
        self._limit = limit
        self._policy = policy
        self._held: list[Any] = []
        self._paused = False
        self._gone = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._held)

    def offer(self, message: Any) -> None:
        """
        Write C{message}, hold it, or apply the policy.
        """
        if self._gone:
            return
        if not self._paused:
            self._write(message)
        elif len(self._held) < self._limit:
            self._held.append(message)
        elif self._policy == DISCONNECT:
            self._gone = True
            self._held.clear()
            self._disconnect()
        else:
            self.dropped += 1

    def pause(self) -> None:
        """
        The transport's buffer is full.
        """
        self._paused = True

    def resume(self) -> None:
        """
        The transport drained: write what was held.
        """
        self._paused = False
        held, self._held = self._held, []
        for message in held:
            self.offer(message)
